import type { Position } from '../store/names.js';
import { bucketRunIds } from './bucket-run-ids.js';

/**
 * What one pass is about to read: where it starts, where it stops, and about
 * how much. An index sizes itself and picks its lookup strategy from this;
 * callers never choose for it.
 */
export interface PassShape {
  /** The first position the pass reads. */
  from: Position;
  /** The last seq it reads (retention folds up to a seq); undefined: to the end. */
  untilSeq?: number | undefined;
  /** About how many lines, and how many content bytes, lie ahead. */
  lines: number;
  bytes: number;
}

/**
 * Every counted run_id with the position of its first line (the contract's
 * "Duplicates at flat cost"). One instance serves one pass, under the
 * aggregate lock; the fold asks `firstSeen` for each run line and `add`s the
 * ids it counts.
 */
export interface RunIdIndex {
  /**
   * The earliest known position of `id`. `at`, the position of the line
   * being classified, lets an index answer from what it knows of the pass
   * (a line it already holds as the first of its id) without a lookup.
   */
  firstSeen(id: string, at?: Position): Position | undefined;
  /** `id` is first seen at `pos` (an id known at an earlier position keeps it). */
  add(id: string, pos: Position): void;
  /** Make what was added survive a crash (`durable`: a power loss too). */
  flush(durable: boolean): void;
  /** Let go of what the pass held (after flush; what was not flushed is dropped). */
  close(): void;
}

/** A kind of run-id index: one directory (or file) per reducer, at `dir`. */
export interface RunIdIndexKind {
  /** Whether `dir` holds an index: without one, earlier runs' ids are unknown. */
  present(dir: string): boolean;
  /** The index for one pass. */
  open(dir: string, pass: PassShape): RunIdIndex;
  /**
   * For a rebuild reading `pass`: keep the ids first seen up to segment
   * `keepSeq` (retention deleted those segments; they cannot be read again)
   * and forget the rest, atomically (a crash leaves the old index or the new).
   */
  reset(dir: string, keepSeq: number, pass: PassShape, durable: boolean): void;
}

/** The index in use: hash-bucketed append-only files. A SQLite one would be another RunIdIndexKind. */
export const runIdIndexes: RunIdIndexKind = bucketRunIds;
