import type { Config } from '../config.js';
import { checkRoot, type StoreContext } from './context.js';
import { entryLinesFromText, entryLinesFromValues, type EntryBatch } from './entries.js';
import type { SegmentRecord } from './segment-index.js';
import { Store, type OpenOptions } from './store.js';

// Where they were first defined; the store's front door (store.ts) is where to import them from.
export { checkRoot, storeContext, type StoreContext, type StoreOptions } from './context.js';

export interface RecorderOptions extends OpenOptions {
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

const ROTATE_WAIT_MS = 30_000;

/**
 * Appends entries to one metrics root. Safe with any number of processes: the
 * writer lock serializes appends, and a writer that cannot get it within a
 * short budget spills its batch to metrics.pending/ instead of waiting.
 */
export class Recorder {
  private constructor(
    readonly store: Store,
    private readonly lockWaitMs: number,
  ) {}

  static async open(options: RecorderOptions | string = {}): Promise<Recorder> {
    const opts = typeof options === 'string' ? { dir: options } : options;
    return new Recorder(await Store.open(opts, { mustExist: false }), opts.lockWaitMs ?? 250);
  }

  get context(): StoreContext {
    return this.store.context;
  }

  get config(): Config {
    return this.context.config;
  }

  /** Append one entry or a batch; the batch is validated whole first. */
  async append(entries: Record<string, unknown> | readonly Record<string, unknown>[]): Promise<AppendResult> {
    return this.appendBatch(entryLinesFromValues(Array.isArray(entries) ? entries : [entries]));
  }

  /** Append JSON Lines text (a file's content, stdin; bytes must be UTF-8); validated whole first. */
  async appendText(text: string | Uint8Array, source?: string): Promise<AppendResult> {
    return this.appendBatch(entryLinesFromText(text, source));
  }

  private async appendBatch(batch: EntryBatch): Promise<AppendResult> {
    const result = await this.appendLines(batch.lines);
    if (batch.uncountable.length > 0) {
      const shown = batch.uncountable.slice(0, 10).map((u) => `${u.where} (${u.why})`);
      const more = batch.uncountable.length > shown.length ? ` and ${batch.uncountable.length - shown.length} more` : '';
      this.context.log.warn(
        { uncountable: batch.uncountable.length },
        `recorded, but ${batch.uncountable.length === 1 ? 'this line' : 'these lines'} will never count as a run (a run needs non-empty string run_id, status and recorded_at): ${shown.join('; ')}${more}`,
      );
    }
    return result;
  }

  private async appendLines(lines: string[]): Promise<AppendResult> {
    const done = await this.store.tryWriter(this.lockWaitMs, (s) => s.appendLines(lines));
    if (done) return { recorded: lines.length, spilled: false, merged: done.session.merged, sealed: done.session.sealed };
    if (lines.length === 0) return { recorded: 0, spilled: false, merged: 0, sealed: [] };
    const names = await this.store.spill(lines);
    this.context.log.info({ first: names[0], entries: lines.length }, 'writer lock busy: spilled entries to metrics.pending/');
    return { recorded: lines.length, spilled: true, merged: 0, sealed: [] };
  }

  /** Seal the active file now; an empty active file is left alone. */
  async rotate(): Promise<RotateResult> {
    // Nothing to seal in a root that does not exist; creating it would hide a mistyped --dir.
    await checkRoot(this.context.paths, true);
    const done = await this.store.writer((s) => s.seal('rotate'), ROTATE_WAIT_MS);
    return { sealed: done.value, merged: done.session.merged };
  }

  /** Nothing is held between calls; kept so callers can treat it as a resource. */
  async close(): Promise<void> {}
}
