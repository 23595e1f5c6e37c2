import { basename } from 'node:path';
import { fileSystem, measureAhead, openSnapshot, refuseStoreSymlinks, refuseSymlinksIn, Store, type StoreContext, type StoreOptions } from '../store/store.js';
import { basePath, checkpointNames, checkpointPath, loadBase, runIdsPath, saveBase, zeroCounts, type RetainedBase } from '../aggregate/checkpoint.js';
import { fold } from '../aggregate/fold.js';
import { orchestratorReducer } from '../aggregate/orchestrator.js';
import type { Reducer } from '../aggregate/reducer.js';
import { runIdIndexes } from '../aggregate/run-ids.js';
import { planRetention, type Floor } from './plan.js';
import { archiveFloor } from '../archive/floor.js';

export interface RetentionOptions extends StoreOptions {
  dryRun?: boolean;
  /** Reducers whose retained base is kept (default: the orchestrator's). */
  reducers?: Reducer<any>[];
  /** Called before each file a fold reads (progress on a terminal). */
  onProgress?: (file: string, index: number, total: number) => void;
}

export interface RetentionResult {
  /** Segment files deleted (or, with dryRun, that would be). */
  deleted: string[];
  /** Sealed segments left. */
  kept: number;
  dryRun: boolean;
  /** Highest seq folded into the retained base. */
  foldedThrough: number;
  /** With an archive configured: segments the policy would delete, kept because they are not archived yet. */
  keptUnarchived?: number;
}

/**
 * Fold every segment up to `seq` into the reducer's retained base, so that
 * base + what remains gives the same aggregate as before. Caller holds the
 * aggregate lock (the fold writes the run-id index).
 */
async function foldInto(ctx: StoreContext, reducer: Reducer<any>, seq: number, onFile?: RetentionOptions['onProgress']): Promise<void> {
  const base = await loadBase(ctx.paths, reducer);
  if (base && base.seq >= seq) return;
  const snap = await openSnapshot(ctx.paths);
  try {
    const state = base ? reducer.fromJSON(base.state) : reducer.init();
    const counts = base ? { ...base.counts } : zeroCounts();
    const from = { seq: (base?.seq ?? 0) + 1, offset: 0, line: 0 };
    const ids = runIdIndexes.open(runIdsPath(ctx.paths, reducer), { from, untilSeq: seq, ...measureAhead(ctx.paths, snap, from, seq) });
    const fsync = ctx.config.fsync !== 'never';
    try {
      await fold({ paths: ctx.paths, snap, reducer, state, counts, ids, from, problems: [], read: { untilSeq: seq, ...(onFile ? { onFile } : {}) } });
      ids.flush(fsync);
    } finally {
      ids.close();
    }
    const next: RetainedBase = {
      version: 1,
      reducer: { name: reducer.name, version: reducer.version },
      seq,
      counts,
      state: reducer.toJSON(state),
      updatedAt: new Date().toISOString(),
      // History given up before (--accept-partial) stays given up: the note goes on.
      ...(base?.partial ? { partial: base.partial } : {}),
    };
    saveBase(basePath(ctx.paths, reducer), next, fsync);
    ctx.log.info({ reducer: reducer.name, seq, runs: counts.runs }, 'retention: folded segments into the retained base');
  } finally {
    await snap.close();
  }
}

/**
 * A reducer aggregated here but not folded by this run loses the deleted
 * segments from its next rebuild: say so, naming its checkpoint.
 */
async function warnUnfolded(ctx: StoreContext, reducers: readonly Reducer<any>[]): Promise<void> {
  const folded = new Set(reducers.map((r) => basename(checkpointPath(ctx.paths, r))));
  const others = checkpointNames(ctx.paths).filter((n) => !folded.has(n));
  if (others.length > 0) {
    ctx.log.warn({ checkpoints: others }, 'retention: these reducers are not folded by this run; segments it deletes will be missing from their rebuilds (pass them in `reducers`)');
  }
}

/**
 * What must be done with a segment before it may go, one entry each: every
 * reducer's retained base (retention folds them forward itself). A floor
 * that only caps deletion (segments not yet archived) is one more entry.
 */
async function retentionFloors(ctx: StoreContext, reducers: readonly Reducer<any>[]): Promise<Floor[]> {
  const bases = await Promise.all(reducers.map((r) => loadBase(ctx.paths, r)));
  return reducers.map((r, i) => ({ name: `reducer ${r.name}`, seq: bases[i]?.seq ?? 0, advances: true }));
}

/**
 * Delete the oldest sealed segments past the policy, after folding them into
 * metrics/retained-base.json. Only regular files named like segments are
 * deleted; the active file, foreign files and symlinks never are. Crash-safe
 * at every step: a segment at or below the base's seq is folded already, so
 * the next run deletes it whatever the policy says.
 */
export async function retention(options: RetentionOptions | string = {}): Promise<RetentionResult> {
  const opts = typeof options === 'string' ? { dir: options } : options;
  const store = await Store.open(opts);
  const ctx = store.context;
  const { config, log } = ctx;
  // The retained base and checkpoints are written here: never through a link.
  refuseStoreSymlinks(ctx.paths);
  refuseSymlinksIn(ctx.paths.metrics);
  const reducers = opts.reducers ?? [orchestratorReducer];
  const candidates = await store.sealedFiles();
  const floors = await retentionFloors(ctx, reducers);
  const archived = await archiveFloor(ctx.paths, config, candidates);
  const plan = planRetention(candidates, config.retention, archived ? [...floors, archived] : floors, ctx.clock.now());
  const unarchived = archived ? { keptUnarchived: planRetention(candidates, config.retention, floors, ctx.clock.now()).delete.length - plan.delete.length } : {};
  if (plan.heldBy) log.info({ floor: plan.heldBy.name, seq: plan.heldBy.seq }, 'retention: keeps segments the policy would delete until this floor reaches them');

  if (opts.dryRun || plan.delete.length === 0) {
    // Retention is one of the lock holders that merge spilled entries, even with nothing to delete.
    if (!opts.dryRun) await store.mergeIfAny();
    return { deleted: plan.delete.map((c) => c.file), kept: plan.keep.length, dryRun: opts.dryRun === true, foldedThrough: plan.through, ...unarchived };
  }
  const { through } = plan;
  return store.withAggregateLock('retention', async () => {
    await warnUnfolded(ctx, reducers);
    for (const r of reducers) await foldInto(ctx, r, through, opts.onProgress);
    fileSystem().step('retention:after-fold');
    const deleted = await store.deleteThrough(through);
    const kept = (await store.sealedFiles()).length;
    log.info({ deleted: deleted.length, kept, through }, 'retention: deleted sealed segments');
    return { deleted, kept, dryRun: false, foldedThrough: through, ...unarchived };
  });
}
