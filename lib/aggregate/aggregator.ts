import { lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ifExists, ifExistsSync, StoreError } from '../errors.js';
import { writeJsonAtomic } from '../store/files.js';
import { completeTail, fileSystem, measureAhead, openSnapshot, refuseStoreSymlinks, refuseSymlink, refuseSymlinksIn, Store, ACTIVE_FILE, type Cursor, type Snapshot, type StoreContext, type StoreOptions } from '../store/store.js';
import {
  activeFileOf,
  basePath,
  checkpointPath,
  ReducerMismatchError,
  dropCheckpoint,
  fingerprintAt,
  runIdsPath,
  sameFingerprint,
  loadBase,
  supersedeBase,
  loadCheckpoint,
  saveBase,
  saveCheckpoint,
  zeroCounts,
  type Checkpoint,
  type Counts,
  type Loaded,
  type RetainedBase,
} from './checkpoint.js';
import { fold, foldLine, type Problem } from './fold.js';
import { orchestratorReducer } from './orchestrator.js';
import type { OutputContext, OutputFile, OutputPlace, Reducer } from './reducer.js';
import { runIdIndexes } from './run-ids.js';

export interface AggregateOptions extends StoreOptions {
  /** Where mttr-delta.json and state.json go (<out>/metrics, <out>); default the metrics root. */
  out?: string;
  reducer?: Reducer<any>;
  /** Ignore the checkpoint and fold everything again (from the retained base). */
  rebuild?: boolean;
  /**
   * The way out when the retained base was folded by a reducer version that
   * cannot be upgraded and the segments it covers are gone: keep the old base
   * aside, start an empty one at its seq, and rebuild from what is left
   * (implies `rebuild`). The outputs then cover only the segments after it.
   */
  acceptPartial?: boolean;
  /** Called before each file of the pass (progress). */
  onProgress?: (file: string, index: number, total: number) => void;
  /** How long to wait for another aggregator of the same root. */
  lockWaitMs?: number;
}

export interface AggregateResult {
  mode: 'incremental' | 'rebuild';
  /** Why a rebuild happened (requested, no checkpoint, or what was wrong with it). */
  reason?: string;
  /** This pass: non-blank lines read, and how many were skipped, by bucket. */
  linesRead: number;
  malformed: number;
  invalid: number;
  duplicates: number;
  /** Runs counted over the whole history. */
  totalRuns: number;
  /** The same counts over the whole history. */
  totals: Counts;
  /** Files written by this pass (none when nothing was new). */
  written: string[];
  /** The first few skipped lines, with file and line number. */
  problems: Problem[];
  cursor: Cursor;
  state: unknown;
  /** Set when history was given up (acceptPartial): the outputs cover segments from this seq on only. */
  coversFromSeq?: number;
}

const FIRST_PASS = 'no checkpoint yet';

interface Start<S> {
  mode: AggregateResult['mode'];
  reason: string | undefined;
  cursor: Cursor;
  state: S;
  counts: Counts;
  /** The pass resumes exactly where the checkpoint (and the outputs written with it) stopped. */
  atCheckpoint: boolean;
  /** Where the checkpoint's pass wrote its <out> outputs. */
  out?: string | undefined;
}

/** Decide where this pass starts: the checkpoint if it still describes the data, else the retained base. */
async function startPoint<S>(ctx: StoreContext, snap: Snapshot, reducer: Reducer<S>, base: RetainedBase | undefined, loaded: Loaded<Checkpoint>, rebuild: boolean): Promise<Start<S>> {
  const fromBase = (mode: Start<S>['mode'], reason: string | undefined): Start<S> => ({
    mode,
    reason,
    cursor: { seq: (base?.seq ?? 0) + 1, offset: 0, line: 0 },
    state: base ? reducer.fromJSON(base.state) : reducer.init(),
    counts: base ? { ...base.counts } : zeroCounts(),
    atCheckpoint: false,
  });
  if (rebuild) return fromBase('rebuild', 'requested');
  if (!loaded) {
    // A run-id index or retained base means this reducer has aggregated here before.
    const before = base || runIdIndexes.present(runIdsPath(ctx.paths, reducer));
    return fromBase('rebuild', before ? `checkpoint ${checkpointPath(ctx.paths, reducer)} is missing` : FIRST_PASS);
  }
  if (!loaded.ok) return fromBase('rebuild', loaded.reason);
  const cp = loaded.value;
  // Retention folded the segment under the cursor: the base holds all of it.
  if (base && cp.cursor.seq <= base.seq) return fromBase('incremental', undefined);
  if (cp.cursor.seq > snap.activeSeq) return fromBase('rebuild', `checkpoint is at segment ${cp.cursor.seq}, past the active segment ${snap.activeSeq}`);
  const now = await fingerprintAt(ctx.paths, snap, cp.cursor);
  if (!now) return fromBase('rebuild', `the file of segment ${cp.cursor.seq} is gone or shorter than the checkpoint's offset ${cp.cursor.offset}`);
  if (!sameFingerprint(now, cp.fingerprint)) {
    return fromBase('rebuild', `bytes before the checkpoint in segment ${cp.cursor.seq} changed`);
  }
  // Without the run-id index, earlier runs' ids are unknown and their duplicates would count again.
  if (cp.counts.runs > 0 && !runIdIndexes.present(runIdsPath(ctx.paths, reducer))) {
    return fromBase('rebuild', `the run-id index ${runIdsPath(ctx.paths, reducer)} is missing or unreadable`);
  }
  let state: S;
  try {
    state = reducer.fromJSON(cp.state);
  } catch (err) {
    return fromBase('rebuild', `checkpoint state unreadable: ${(err as Error).message}`);
  }
  return { mode: 'incremental', reason: undefined, cursor: cp.cursor, state, counts: { ...cp.counts }, atCheckpoint: true, out: cp.out };
}

function placeDir(ctx: StoreContext, out: string, place: OutputPlace): string {
  return place === 'metrics' ? ctx.paths.metrics : place === 'out-metrics' ? join(out, 'metrics') : out;
}

function readExisting(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

function writeOutputs(ctx: StoreContext, out: string, files: OutputFile[], fsync: boolean): string[] {
  const written: string[] = [];
  for (const f of files) {
    const path = join(placeDir(ctx, out, f.place), f.name);
    // Written once; an empty one is what a power loss left of an unsynced write, not a baseline.
    if (f.once && ifExistsSync(() => lstatSync(path))?.size) continue;
    writeJsonAtomic(path, f.data, fsync);
    written.push(path);
  }
  return written;
}

function outputsPresent(ctx: StoreContext, out: string, files: OutputFile[]): boolean {
  for (const f of files) {
    // Empty: an output that was not fsynced when the power went; the checkpoint was.
    if (!ifExistsSync(() => lstatSync(join(placeDir(ctx, out, f.place), f.name)))?.size) return false;
  }
  return true;
}

/**
 * The reducer's retained base. One folded by another version of the reducer
 * is no base at all when an archive holds what it covers (the pass reads
 * that from the archive and folds a new one); without an archive it is an error.
 */
async function usableBase(ctx: StoreContext, reducer: Reducer<any>): Promise<RetainedBase | undefined> {
  try {
    return await loadBase(ctx.paths, reducer);
  } catch (err) {
    if (!(err instanceof ReducerMismatchError) || !ctx.config.archive) throw err;
    ctx.log.warn({ reason: err.message, archive: ctx.config.archive.url }, 'aggregate: the retained base is of another reducer version: rebuilding it from the archive');
    return undefined;
  }
}

/**
 * Bring every output up to date. Reads without the writer lock (merging
 * spilled entries first when the lock is free right now); aggregators of one
 * root take turns on metrics/aggregate.lock, which also guards the run-id index.
 */
export async function aggregate(options: AggregateOptions | string = {}): Promise<AggregateResult> {
  const opts = typeof options === 'string' ? { dir: options } : options;
  const store = await Store.open(opts);
  const ctx = store.context;
  const reducer: Reducer<any> = opts.reducer ?? orchestratorReducer;
  const out = opts.out ?? ctx.paths.root;
  refuseAggregateSymlinks(ctx, out);
  // Found before any output is written, not half way through.
  for (const dir of [out, join(out, 'metrics')]) {
    const st = ifExistsSync(() => statSync(dir));
    if (st && !st.isDirectory()) throw new StoreError(`--out: ${dir} exists and is not a directory`);
  }
  return store.withAggregateLock(
    'aggregate',
    async () => {
      await store.mergeIfAny();
      return aggregateLocked(ctx, reducer, out, opts);
    },
    opts.lockWaitMs,
  );
}

/** Outputs, checkpoints and indexes are never written or read through a symlink. */
function refuseAggregateSymlinks(ctx: StoreContext, out: string): void {
  refuseStoreSymlinks(ctx.paths);
  refuseSymlinksIn(ctx.paths.metrics);
  for (const f of [join(out, 'state.json'), join(out, 'metrics'), join(out, 'metrics', 'mttr-delta.json')]) refuseSymlink(f);
}

/** The pass itself; the caller holds the aggregate lock and has refused symlinks (refuseAggregateSymlinks). */
export async function aggregateLocked(ctx: StoreContext, reducer: Reducer<any>, out: string, opts: AggregateOptions): Promise<AggregateResult> {
  const { paths, config, log } = ctx;
  // `seal` makes checkpoints (and the run-id index they trust) durable, not outputs:
  // those are derived, rewritten by the next pass, and atomic against a crash
  // either way; five fewer fsyncs are a third of a run's cost.
  const durable = config.fsync !== 'never';
  const rebuild = opts.rebuild === true || opts.acceptPartial === true;
  // Asked for, and only where no archive holds the deleted history (a pass reads it from there instead).
  if (opts.acceptPartial && !config.archive) {
    const next = await supersedeBase(paths, reducer, durable, new Date(ctx.clock.now()).toISOString());
    if (next?.partial) {
      log.warn({ kept: next.partial.superseded, coversFromSeq: next.partial.fromSeq }, `aggregate: gave up the history of segments 1..${next.seq} (folded by ${next.partial.reducer.name} v${next.partial.reducer.version}, no upgrade); the outputs cover segments ${next.partial.fromSeq} onward`);
    }
  }
  const base = await usableBase(ctx, reducer);
  const loaded = rebuild ? undefined : await loadCheckpoint(paths, reducer);
  // Where the checkpoint's segment was not folded away by retention, and the active file is still the one
  // the checkpoint was taken in, nothing was sealed since and the snapshot need not list the segments.
  const since = loaded?.ok && !(base && loaded.value.cursor.seq <= base.seq) ? activeFileOf(loaded.value) : undefined;
  let snap = await openSnapshot(paths, since);
  try {
    let start = await startPoint(ctx, snap, reducer, base, loaded, rebuild);
    if (snap.sealedFrom > 1 && !start.atCheckpoint) {
      // Anything but a pass from the checkpoint reads from before it: it needs every segment.
      await snap.close();
      snap = await openSnapshot(paths);
      start = await startPoint(ctx, snap, reducer, base, loaded, rebuild);
    }
    // Segments retention deleted that this pass needs (no base for this reducer, or
    // one of another version): read from the archive, checked, when there is one.
    // (A pass from the checkpoint reads none of them; its snapshot may list no segments.)
    const deletedThrough = (snap.sealed[0]?.seq ?? snap.activeSeq) - 1;
    const external = config.archive && !start.atCheckpoint && start.cursor.seq <= deletedThrough
      ? await (await import('../archive/fetch.js')).archivedRange(ctx, start.cursor.seq, deletedThrough)
      : undefined;
    const idsDir = runIdsPath(paths, reducer);
    if (base && base.counts.runs > 0 && !runIdIndexes.present(idsDir)) {
      // The ids of deleted segments lived only there: no pass can learn them again.
      log.warn({ index: idsDir, retainedThrough: base.seq }, 'aggregate: the run-id index is gone; repeats of run_ids from segments retention deleted will count as new runs');
    }
    const pass = { from: start.cursor, ...measureAhead(paths, snap, start.cursor) };
    if (start.mode === 'rebuild') {
      const level = start.reason === 'requested' || start.reason === FIRST_PASS ? 'info' : 'warn';
      log[level]({ reason: start.reason }, 'aggregate: full rebuild');
      // A crash mid-rebuild must not leave a checkpoint that trusts a half-rebuilt run-id index.
      await dropCheckpoint(paths, reducer);
      runIdIndexes.reset(idsDir, base?.seq ?? 0, pass, durable);
      fileSystem().step('aggregate:after-reset');
    }
    const ids = runIdIndexes.open(idsDir, pass);
    const before = { ...start.counts };
    const problems: Problem[] = [];
    let cursor: Cursor;
    // A complete last entry whose newline is missing counts, as the orchestrator counts it; the
    // checkpoint stays before it (the next writer ends it with "\n"), so it is counted in a copy.
    let tail: string | undefined;
    let state = start.state;
    let counts = start.counts;
    try {
      const pass = { paths, snap, reducer, state: start.state, counts: start.counts, ids, problems };
      const progress = opts.onProgress ? { onFile: opts.onProgress } : {};
      let from = start.cursor;
      if (external) {
        await fold({ ...pass, from, read: { ...progress, untilSeq: deletedThrough, external } });
        ids.flush(durable);
        // The deleted history, folded by this reducer: its retained base from now on.
        const rebuilt: RetainedBase = { version: 1, reducer: { name: reducer.name, version: reducer.version }, seq: deletedThrough, counts: { ...start.counts }, state: reducer.toJSON(start.state), updatedAt: new Date().toISOString() };
        saveBase(basePath(paths, reducer), rebuilt, durable);
        from = { seq: deletedThrough + 1, offset: 0, line: 0 };
      }
      cursor = await fold({ ...pass, from, read: progress });
      ids.flush(durable);
      tail = cursor.seq === snap.activeSeq ? completeTail(snap) : undefined;
      if (tail !== undefined) {
        state = reducer.fromJSON(JSON.parse(JSON.stringify(reducer.toJSON(start.state))));
        counts = { ...start.counts };
        foldLine({ counts, ids, reducer, state, problems }, tail, { seq: snap.activeSeq, offset: snap.activeEnd, line: cursor.line + 1, file: ACTIVE_FILE }, false);
      }
    } finally {
      ids.close();
    }
    // The lines this pass moved past (an unterminated last entry is read again once it has its newline).
    const read = {
      linesRead: start.counts.lines - before.lines,
      malformed: start.counts.malformed - before.malformed,
      invalid: start.counts.invalid - before.invalid,
      duplicates: start.counts.duplicates - before.duplicates,
    };
    if (read.malformed + read.invalid + read.duplicates > 0) {
      log.warn({ ...read, first: problems }, 'aggregate: skipped lines (malformed, invalid or duplicate run_id)');
    }

    const now = new Date().toISOString();
    const outputCtx: OutputContext = { now, existing: (place, name) => readExisting(join(placeDir(ctx, out, place), name)) };
    const files = counts.runs > 0 ? reducer.outputs(state, outputCtx) : [];
    const moved = cursor.seq !== start.cursor.seq || cursor.offset !== start.cursor.offset;
    let written: string[] = [];
    // From the retained base the state holds lines the last outputs never saw, even when
    // nothing is new after the base (retention folded what was appended since).
    // Outputs under another <out> than the checkpoint's pass used may be older than it.
    if (!start.atCheckpoint || moved || tail !== undefined || start.out !== resolve(out) || !outputsPresent(ctx, out, files)) {
      const fingerprint = await fingerprintAt(paths, snap, cursor);
      if (!fingerprint) throw new StoreError(`segment ${cursor.seq} vanished during aggregation`);
      const checkpoint: Checkpoint = {
        version: 1,
        reducer: { name: reducer.name, version: reducer.version },
        cursor,
        fingerprint,
        counts: start.counts,
        state: reducer.toJSON(start.state),
        out: resolve(out),
        ...(snap.activeId !== undefined && cursor.seq === snap.activeSeq ? { active: { seq: snap.activeSeq, id: snap.activeId } } : {}),
        updatedAt: now,
      };
      // Outputs first, the checkpoint last: a crash between them leaves outputs the next pass rewrites.
      const done = writeOutputs(ctx, out, files, config.fsync === 'always');
      fileSystem().step('aggregate:before-checkpoint');
      saveCheckpoint(checkpointPath(paths, reducer), checkpoint, durable);
      written = [...done, checkpointPath(paths, reducer)];
    }
    return {
      // The first pass of a store starts from nothing: incremental, as the CLI promises without --rebuild.
      mode: start.reason === FIRST_PASS ? 'incremental' : start.mode,
      ...(start.reason !== undefined ? { reason: start.reason } : {}),
      ...read,
      totalRuns: counts.runs,
      totals: { ...counts },
      written,
      problems,
      cursor,
      state,
      ...(base?.partial ? { coversFromSeq: base.partial.fromSeq } : {}),
    };
  } finally {
    await snap.close();
  }
}
