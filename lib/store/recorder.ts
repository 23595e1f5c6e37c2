import { lstatSync } from 'node:fs';
import { loadConfig, type Config, type ConfigOptions } from '../config.js';
import { ifExistsSync, StoreError } from '../errors.js';
import { defaultLogger, type Logger } from '../log.js';
import { entryLinesFromText, entryLinesFromValues } from './entries.js';
import { systemClock, type Clock } from './clock.js';
import { storePaths, type StorePaths } from './names.js';
import { spill } from './pending.js';
import type { SegmentRecord } from './segment-index.js';
import { tryWithWriter, withWriter } from './writer.js';

export interface StoreOptions extends ConfigOptions {
  /** A ready config (skips loading); options above are ignored then. */
  config?: Config;
  log?: Logger;
  /** The store's time (rotation, sealing times, retention's age limit); tests pass their own. */
  clock?: Clock;
}

export interface RecorderOptions extends StoreOptions {
  /** How long an append waits for a busy lock before spilling to metrics.pending/. */
  lockWaitMs?: number;
}

export interface AppendResult {
  /** Entries acknowledged by this call. */
  recorded: number;
  /** True when the lock stayed busy and the batch went to metrics.pending/. */
  spilled: boolean;
  /** Entries other processes had spilled, merged by this call. */
  merged: number;
  sealed: SegmentRecord[];
}

export interface RotateResult {
  sealed: SegmentRecord | undefined;
  merged: number;
}

export interface StoreContext {
  config: Config;
  paths: StorePaths;
  log: Logger;
  clock: Clock;
}

export function storeContext(options: StoreOptions | string = {}): StoreContext {
  const opts = typeof options === 'string' ? { dir: options } : options;
  const config = opts.config ?? loadConfig(opts);
  const log = opts.log ?? defaultLogger(config.logLevel);
  return { config, paths: storePaths(config.dir), log, clock: opts.clock ?? systemClock };
}

/** The metrics root must be a directory or not exist yet; anything else is a clear error. */
export async function checkRoot(paths: StorePaths, mustExist: boolean): Promise<void> {
  const st = ifExistsSync(() => lstatSync(paths.root));
  if (st && !st.isDirectory()) throw new StoreError(`${paths.root} is not a directory`);
  if (!st && mustExist) throw new StoreError(`${paths.root} does not exist`);
}

const ROTATE_WAIT_MS = 30_000;

/**
 * Appends entries to one metrics root. Safe with any number of processes: the
 * writer lock serializes appends, and a writer that cannot get it within a
 * short budget spills its batch to metrics.pending/ instead of waiting.
 */
export class Recorder {
  private constructor(
    readonly context: StoreContext,
    private readonly lockWaitMs: number,
  ) {}

  static async open(options: RecorderOptions | string = {}): Promise<Recorder> {
    const opts = typeof options === 'string' ? { dir: options } : options;
    const ctx = storeContext(opts);
    await checkRoot(ctx.paths, false);
    return new Recorder(ctx, opts.lockWaitMs ?? 250);
  }

  get config(): Config {
    return this.context.config;
  }

  /** Append one entry or a batch; the batch is validated whole first. */
  async append(entries: Record<string, unknown> | readonly Record<string, unknown>[]): Promise<AppendResult> {
    return this.appendLines(entryLinesFromValues(Array.isArray(entries) ? entries : [entries]));
  }

  /** Append JSON Lines text (a file's content, stdin); validated whole first. */
  async appendText(text: string, source?: string): Promise<AppendResult> {
    return this.appendLines(entryLinesFromText(text, source));
  }

  private async appendLines(lines: string[]): Promise<AppendResult> {
    const { paths, config, log } = this.context;
    const done = await tryWithWriter(paths, config, log, { waitMs: this.lockWaitMs, clock: this.context.clock }, (s) => s.appendLines(lines));
    if (done) return { recorded: lines.length, spilled: false, merged: done.session.merged, sealed: done.session.sealed };
    if (lines.length === 0) return { recorded: 0, spilled: false, merged: 0, sealed: [] };
    const names = await spill(paths, lines, config.fsync !== 'never');
    log.info({ first: names[0], entries: lines.length }, 'writer lock busy: spilled entries to metrics.pending/');
    return { recorded: lines.length, spilled: true, merged: 0, sealed: [] };
  }

  /** Seal the active file now; an empty active file is left alone. */
  async rotate(): Promise<RotateResult> {
    const { paths, config, log } = this.context;
    // Nothing to seal in a root that does not exist; creating it would hide a mistyped --dir.
    await checkRoot(paths, true);
    const done = await withWriter(paths, config, log, { waitMs: ROTATE_WAIT_MS, clock: this.context.clock }, (s) => s.seal('rotate'));
    return { sealed: done.value, merged: done.session.merged };
  }

  /** Nothing is held between calls; kept so callers can treat it as a resource. */
  async close(): Promise<void> {}
}
