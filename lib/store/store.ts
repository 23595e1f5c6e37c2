import { mkdirSync } from 'node:fs';
import { StoreError } from '../errors.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from './clock.js';
import { lock } from './lock.js';
import type { StorePaths } from './names.js';
import { listPending, spill } from './pending.js';
import { openSnapshot, type Snapshot } from './reader.js';
import { checkRoot, storeContext, type StoreContext, type StoreOptions } from './context.js';
import { knownStoreId, lastSealedSeq, loadIndex, type SegmentRecord } from './segment-index.js';
import { describeSegments, type SegmentInfo } from './segments.js';
import { deleteSealedThrough, sealedFiles, type SealedFile } from './retire.js';
import { tryWithWriter, writerBusy, type WriterSession } from './writer.js';

/**
 * The one front door to a metrics root. Everything outside lib/store reaches
 * the store through here (plus names.ts for positions and files.ts for the
 * atomic JSON writes every layer shares): writer sessions, the exclusive
 * section, merging spilled entries, snapshots for readers, the catalogue and
 * its seq floor, and the after-seal notification.
 */

/** Told of segments sealed by a lock hold, after the writer lock is released. */
export type AfterSeal = (sealed: readonly SegmentRecord[], store: Store) => Promise<void> | void;

export interface OpenOptions extends StoreOptions {
  /** Run after each lock hold that sealed segments, never under the writer lock (the archive hangs here). */
  afterSeal?: AfterSeal | readonly AfterSeal[];
}

/** What the catalogue holds: identity, the seq floor, and every sealed segment. */
export interface Catalogue {
  storeId: string | undefined;
  /** Highest seq ever sealed; the active file is one more. */
  lastSeq: number;
  segments: SegmentRecord[];
}

const WRITER_WAIT_MS = 30_000;
const AGGREGATE_WAIT_MS = 120_000;

export class Store {
  private readonly afterSeal: AfterSeal[];

  private constructor(
    readonly context: StoreContext,
    afterSeal: readonly AfterSeal[],
  ) {
    this.afterSeal = [...afterSeal];
  }

  /**
   * Open a metrics root. `mustExist` (the default) refuses a root that does
   * not exist yet: only recording creates one, so a mistyped --dir is an error.
   */
  static async open(options: OpenOptions | string = {}, how: { mustExist?: boolean } = {}): Promise<Store> {
    const opts = typeof options === 'string' ? { dir: options } : options;
    const ctx = storeContext(opts);
    await checkRoot(ctx.paths, how.mustExist ?? true);
    const hooks = opts.afterSeal === undefined ? [] : Array.isArray(opts.afterSeal) ? opts.afterSeal : [opts.afterSeal as AfterSeal];
    return new Store(ctx, hooks);
  }

  get paths(): StorePaths {
    return this.context.paths;
  }

  get config(): Config {
    return this.context.config;
  }

  get log(): Logger {
    return this.context.log;
  }

  get clock(): Clock {
    return this.context.clock;
  }

  /** Be told of every segment sealed through this store, once its writer lock is released. */
  onSealed(listener: AfterSeal): void {
    this.afterSeal.push(listener);
  }

  /**
   * Run `work` as the writer-lock holder, after the holder's duties (identity,
   * torn tail, merges). Undefined when the lock stays busy for `waitMs`.
   */
  async tryWriter<T>(waitMs: number, work: (session: WriterSession) => Promise<T>): Promise<{ value: T; session: WriterSession } | undefined> {
    const { paths, config, log, clock } = this.context;
    const done = await tryWithWriter(paths, config, log, { waitMs, clock }, work);
    if (done && done.session.sealed.length > 0) await this.notifySealed(done.session.sealed);
    return done;
  }

  /** Like tryWriter, but a lock that stays busy is a failure. */
  async writer<T>(work: (session: WriterSession) => Promise<T>, waitMs = WRITER_WAIT_MS): Promise<{ value: T; session: WriterSession }> {
    const done = await this.tryWriter(waitMs, work);
    if (!done) throw await writerBusy(this.paths);
    return done;
  }

  /**
   * Merge what writers spilled to metrics.pending/, only when there is some
   * and the lock is free right now: a lock holder first moves the active
   * file's torn tail away, and without a merge to make that necessary the
   * bytes after the last newline may be a line another writer is still writing.
   */
  async mergeIfAny(): Promise<void> {
    const pending = await listPending(this.paths);
    // Temp spills too: one its writer died on waits for a holder to merge or quarantine it.
    if (pending.ready.length + pending.merging.length + pending.temps.length > 0) await this.tryWriter(0, async () => undefined);
  }

  /** Spill lines to metrics.pending/ (the lock stayed busy); the next holder merges them. */
  async spill(lines: readonly string[]): Promise<string[]> {
    return spill(this.paths, lines, this.config.fsync !== 'never');
  }

  /**
   * The exclusive section's first half: metrics/aggregate.lock, which
   * aggregators of one root take turns on (it also guards what they write:
   * checkpoints, the run-id index). Whoever needs both locks takes this one
   * first, then the writer lock (`exclusive`), never the other way round.
   */
  async withAggregateLock<T>(what: string, work: () => Promise<T>, waitMs = AGGREGATE_WAIT_MS): Promise<T> {
    mkdirSync(this.paths.metrics, { recursive: true });
    const held = await lock(this.paths.aggregateLock, { staleMs: this.config.lockStaleMs, log: this.log, waitMs });
    if (!held) throw new StoreError(`${what}: an aggregator holds ${this.paths.aggregateLock}`);
    try {
      return await work();
    } finally {
      await held.release();
    }
  }

  /**
   * Hold the writer lock without a holder's duties (no torn-tail move, no
   * merge): for a reader that must see the store between writes, as verify's
   * second look. Undefined when the lock stays busy for `waitMs` or cannot be
   * taken at all (no write access to the root).
   */
  async betweenWrites<T>(waitMs: number, work: () => Promise<T>): Promise<{ value: T } | undefined> {
    const held = await lock(this.paths.lock, { staleMs: this.config.lockStaleMs, log: this.log, waitMs }).catch((err: unknown) => {
      this.log.warn({ lock: this.paths.lock, err: (err as Error).message }, 'cannot take the writer lock');
      return undefined;
    });
    if (!held) return undefined;
    try {
      return { value: await work() };
    } finally {
      await held.release();
    }
  }

  /** The aggregate lock, then the writer lock: nothing reads or writes the store meanwhile. */
  async exclusive<T>(what: string, work: (session: WriterSession) => Promise<T>): Promise<T> {
    return this.withAggregateLock(what, async () => (await this.writer(work)).value);
  }

  /** Sealed segments that are regular files, oldest first, with their bytes on disk: what retention plans with. */
  sealedFiles(): Promise<SealedFile[]> {
    return sealedFiles(this.paths);
  }

  /**
   * Delete every sealed segment up to `through`, under the writer lock (the
   * seq floor raised first). The caller has made sure nothing needs them.
   */
  async deleteThrough(through: number): Promise<string[]> {
    return (await this.writer(() => deleteSealedThrough(this.paths, this.config, this.log, through))).value;
  }

  /** What one reader sees, without the writer lock: sealed segments and the active file at one moment. */
  snapshot(): Promise<Snapshot> {
    return openSnapshot(this.paths);
  }

  /** The catalogue in step with the directory (read only: nothing is written back). */
  async catalogue(): Promise<Catalogue> {
    const { index } = await loadIndex(this.paths, { log: this.log, persist: false, fsync: false });
    // loadIndex reads store.json's id, else index.json's copy: knownStoreId's answer, without reading them again.
    return { storeId: index.storeId, lastSeq: index.lastSeq, segments: index.segments };
  }

  /** Sealed segments, then the active file (up to its last complete line). */
  segments(): Promise<SegmentInfo[]> {
    return describeSegments(this.context);
  }

  /** The highest seq ever sealed, cheaply (no catalogue parse); the active file is one more. */
  lastSeq(): Promise<number> {
    return lastSealedSeq(this.paths);
  }

  /** The store's random id; undefined for a store no writer has given one yet. */
  storeId(): Promise<string | undefined> {
    return knownStoreId(this.paths);
  }

  private async notifySealed(sealed: readonly SegmentRecord[]): Promise<void> {
    for (const listener of this.afterSeal) {
      try {
        await listener(sealed, this);
      } catch (err) {
        // The entries are recorded and sealed: a listener's failure is its own to report.
        this.log.error({ err: (err as Error).message, sealed: sealed.map((s) => s.file) }, 'after-seal listener failed');
      }
    }
  }
}

export { checkRoot, type StoreContext, type StoreOptions, storeContext } from './context.js';
export { Recorder, type AppendResult, type RecorderOptions, type RotateResult } from './recorder.js';
export { systemClock, type Clock } from './clock.js';
export type { StorePaths } from './names.js';
export type { SegmentRecord, SegmentIndex } from './segment-index.js';
export type { WriterSession } from './writer.js';
export type { SealedFile } from './retire.js';
export type { SegmentInfo } from './segments.js';
export { completeTail, measureAhead, openSegment, openSnapshot, readFrom, type ActiveFile, type Cursor, type LineAt, type ReadOptions, type Snapshot } from './reader.js';
export { closeBlocks, readBlocks } from './lines.js';

// The store's own checks, for verify: the catalogue and identity as stored, line scans.
export { ACTIVE_FILE, FLATTEN_FILE, INDEX_FILE, STORE_FILE, parseSegmentName, type SegmentName } from './names.js';
export { refuseStoreSymlinks, refuseSymlink, refuseSymlinksIn } from './symlinks.js';
export { listPending } from './pending.js';
export { isCompleteTail as completeTailOf } from './entries.js';
export { journalPath as flattenJournalPath } from './flatten-journal.js';
export { describeSegment, readIndex, scanSegmentsDir, writeIndex } from './segment-index.js';
export { identityOf, newIdentity, seqFloor } from './identity.js';
export { splitCompleteLines, summarizeFile, timeOf } from './lines.js';

// The file-system seam every write goes through (tests install a faulty one).
export { fileSystem, type WriteSite } from './fs-env.js';

// For callers that work below sessions: the archive (identity, catalogue, a held
// writer), the orchestrator's call shapes and flatten (the locks and the journal).
export { knownStoreId, loadIndex } from './segment-index.js';
export type { ExternalSegment } from './reader.js';
export { tryWithWriter, withWriter } from './writer.js';
export { lock } from './lock.js';
export { entryLinesFromValues } from './entries.js';
export { finishFlatten, writeJournal } from './flatten-journal.js';
