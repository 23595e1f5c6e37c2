/**
 * The orchestrator's metrics calls (orchestrator/src/cli/metrics/ of
 * Kbediako/CO), with its names and argument shapes, on this store: its code
 * changes imports, not calls.
 *
 *   import { appendMetricsEntry, updateMetricsAggregates, withMetricsLock } from 'codex-metrics/compat';
 *
 * `env` is the orchestrator's EnvironmentPaths: the metrics root is
 * runsRoot/taskId, mttr-delta.json and state.json go under outRoot/taskId.
 * Configuration comes from the environment (CODEX_METRICS_*) and
 * CODEX_METRICS_CONFIG, as for the CLI.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { lstatSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { aggregate, type AggregateOptions, type AggregateResult } from './aggregate/aggregator.js';
import { orchestratorReducer } from './aggregate/orchestrator.js';
import { zeroCounts } from './aggregate/checkpoint.js';
import { ifExistsSync } from './errors.js';
import { entryLinesFromValues, Recorder, storeContext, tryWithWriter, type StoreOptions, type WriterSession } from './store/store.js';

export interface EnvironmentPaths {
  runsRoot: string;
  outRoot: string;
  taskId: string;
  repoRoot?: string;
}

/** The orchestrator's lock retry: 4 attempts, 50 ms doubling to 200 ms (about 350 ms in all). */
const LOCK_WAIT_MS = 350;

export function metricsRoot(env: EnvironmentPaths): string {
  return join(env.runsRoot, env.taskId);
}

/** The writer session a withMetricsLock call holds, so calls inside it work as its holder. */
const held = new AsyncLocalStorage<{ root: string; session: WriterSession }>();

function heldSession(root: string): WriterSession | undefined {
  const h = held.getStore();
  return h && h.root === resolve(root) ? h.session : undefined;
}

/**
 * Run `work` as the writer lock holder of `root`: in the held session when inside
 * withMetricsLock (`nested`), else in a fresh one, whose holder's duties are done.
 */
async function asHolder<T>(root: string, options: StoreOptions, work: (s: WriterSession, nested: boolean) => Promise<T>): Promise<{ acquired: boolean; result?: T }> {
  const session = heldSession(root);
  if (session) return { acquired: true, result: await work(session, true) };
  const { paths, config, log } = storeContext({ ...options, dir: root });
  const done = await tryWithWriter(paths, config, log, { waitMs: LOCK_WAIT_MS }, (s) => work(s, false));
  return done ? { acquired: true, result: done.value } : { acquired: false };
}

/**
 * As the orchestrator's: run `action` holding the metrics lock; `{acquired:
 * false}` when it stays busy. The holder's duties (torn tail, pending
 * spills) are done before `action` runs.
 */
export async function withMetricsLock<T>(env: EnvironmentPaths, action: () => Promise<T>, options: StoreOptions = {}): Promise<{ acquired: boolean; result?: T }> {
  const root = resolve(metricsRoot(env));
  return asHolder(root, options, (session, nested) => (nested ? action() : held.run({ root, session }, action)));
}

/** As the orchestrator's: merge metrics.pending/ into the store; returns how many entries were merged (0 when the lock is busy). */
export async function mergePendingMetricsEntries(env: EnvironmentPaths, options: StoreOptions = {}): Promise<number> {
  const root = metricsRoot(env);
  if (!ifExistsSync(() => lstatSync(root))) return 0;
  // A fresh session has merged already (a holder's first duty); a held one merges again.
  const r = await asHolder(root, options, async (s, nested) => (nested ? s.mergePending() : s.merged));
  return r.result ?? 0;
}

/**
 * As the orchestrator's guard before an append, under this store's rule
 * (contract "Torn tail"): a complete last object gets its newline; any other
 * bytes after the last newline go to metrics.corrupt/. Only for a store's
 * metrics.json; done under the writer lock (skipped when it stays busy: its
 * holder does the same).
 */
export async function ensureMetricsTrailingNewline(path: string, options: StoreOptions = {}): Promise<void> {
  if (basename(path) !== 'metrics.json' || !ifExistsSync(() => lstatSync(path))) return;
  const root = dirname(path);
  await asHolder(root, options, async (s, nested) => {
    if (nested) await s.repairTornTail();
  });
}

export interface AppendMetricsResult {
  /** False when the lock stayed busy and the entry went to metrics.pending/ (acknowledged either way). */
  recorded: boolean;
  spilled: boolean;
  /** The aggregation, when it ran (the orchestrator skips it when it had to spill). */
  aggregate?: AggregateResult;
}

/**
 * Record one already-built entry (the orchestrator's appendMetricsEntry after
 * it has built it from the manifest): append under the lock and re-aggregate,
 * or, when the lock stays busy, spill it to metrics.pending/ and skip the
 * aggregation, as the orchestrator does.
 */
export async function appendMetricsEntry(env: EnvironmentPaths, entry: Record<string, unknown>, options: StoreOptions = {}): Promise<AppendMetricsResult> {
  const root = metricsRoot(env);
  const session = heldSession(root);
  if (session) {
    await session.appendLines(entryLinesFromValues([entry]).lines);
    return { recorded: true, spilled: false, aggregate: await updateMetricsAggregates(env, options) };
  }
  const recorder = await Recorder.open({ ...options, dir: root, lockWaitMs: LOCK_WAIT_MS });
  const res = await recorder.append(entry);
  if (res.spilled) {
    recorder.context.log.warn({ taskId: env.taskId }, `Metrics aggregation skipped for ${env.taskId}: queued metrics entry in metrics.pending/.`);
    return { recorded: false, spilled: true };
  }
  return { recorded: true, spilled: false, aggregate: await updateMetricsAggregates(env, options) };
}

/** As the orchestrator's: root runsRoot/taskId, outputs under outRoot/taskId. */
export async function updateMetricsAggregates(env: EnvironmentPaths & Omit<AggregateOptions, 'dir' | 'out'>, options: Omit<AggregateOptions, 'dir' | 'out'> = {}): Promise<AggregateResult> {
  const { runsRoot, outRoot, taskId, repoRoot: _repoRoot, ...rest } = env;
  const opts = { ...rest, ...options };
  const dir = join(runsRoot, taskId);
  // As the orchestrator's own call: a task that has recorded nothing yet has nothing to aggregate.
  if (!ifExistsSync(() => lstatSync(dir))) {
    const reducer = opts.reducer ?? orchestratorReducer;
    return { mode: 'incremental', linesRead: 0, malformed: 0, invalid: 0, duplicates: 0, totalRuns: 0, totals: zeroCounts(), written: [], problems: [], cursor: { seq: 1, offset: 0, line: 0 }, state: reducer.init() };
  }
  return aggregate({ ...opts, dir, out: join(outRoot, taskId) });
}
