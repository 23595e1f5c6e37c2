import { openSnapshot, readFrom, readIndex, type SegmentName, type SegmentRecord, type StoreContext } from '../store/store.js';
import { matches, segmentOutside, type EntryFilter } from './filter.js';

/** A parsed stored line that is a JSON object: what the store calls an entry. */
export function entryOf(line: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export interface QueryOptions {
  filter: EntryFilter;
  /** Stop after this many matches. */
  limit?: number;
  /** Each match, exactly as stored; return false to stop. */
  onEntry(line: string, entry: Record<string, unknown>): boolean | void;
}

export interface QueryResult {
  matched: number;
  /** Non-blank lines that are not JSON objects (never printed, counted). */
  notEntries: number;
  /** Sealed segments read, and those the catalogue proved hold no match. */
  segmentsRead: number;
  segmentsSkipped: number;
}

/** Thrown from inside a read to end it early (a limit, a closed stdout). */
class Stop extends Error {}

/** The catalogue's record for a listed file: a .gz made after the listing is the same content. */
function recordFor(byBase: Map<string, SegmentRecord>, s: SegmentName): SegmentRecord | undefined {
  return byBase.get(s.file.replace(/\.gz$/, ''));
}

/**
 * Stored entries in store order (sealed segments by seq, then the active file
 * up to its last complete line), without the writer lock. A segment is not
 * read when its catalogue record proves no line of it is in the time window.
 */
export async function query(ctx: StoreContext, opts: QueryOptions): Promise<QueryResult> {
  const result: QueryResult = { matched: 0, notEntries: 0, segmentsRead: 0, segmentsSkipped: 0 };
  if (opts.limit === 0) return result;
  const snap = await openSnapshot(ctx.paths);
  try {
    const index = await readIndex(ctx.paths);
    const byBase = new Map((index?.segments ?? []).map((r) => [r.file.replace(/\.gz$/, ''), r]));
    const sealed = snap.sealed.filter((s) => !segmentOutside(opts.filter, recordFor(byBase, s)));
    result.segmentsRead = sealed.length;
    result.segmentsSkipped = snap.sealed.length - sealed.length;
    let stopped = false;
    try {
      await readFrom(ctx.paths, { ...snap, sealed }, { seq: snap.sealedFrom, offset: 0, line: 0 }, (line) => {
        if (stopped || line.trim() === '') return;
        const entry = entryOf(line);
        if (!entry) {
          result.notEntries++;
          return;
        }
        if (!matches(opts.filter, entry)) return;
        result.matched++;
        if (opts.onEntry(line, entry) === false || result.matched === opts.limit) {
          stopped = true;
          throw new Stop();
        }
      });
    } catch (err) {
      if (!(err instanceof Stop)) throw err;
    }
    return result;
  } finally {
    await snap.close();
  }
}
