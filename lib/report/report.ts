import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { aggregate, type AggregateResult } from '../aggregate/aggregator.js';
import { loadCheckpoint } from '../aggregate/checkpoint.js';
import { orchestratorReducer } from '../aggregate/orchestrator.js';
import { writeTextAtomic } from '../store/files.js';
import { storeContext, type StoreOptions } from '../store/store.js';
import { renderPage, type OutputsOnDisk } from './page.js';
import { reportReducer, seriesOf, type ReportState } from './reducer.js';

export interface ReportOptions extends StoreOptions {
  /** The HTML file to write (default <root>/metrics/report.html). */
  file?: string;
  /** Where the orchestrator outputs live (<out>/metrics/mttr-delta.json, <out>/state.json); default: where the last aggregate wrote them. */
  out?: string;
  /** The orchestrator pass just ran (aggregate --report): do not run it again. */
  aggregated?: boolean;
  onProgress?: (file: string, index: number, total: number) => void;
}

export interface ReportResult {
  file: string;
  /** The report reducer's pass (incremental from its own checkpoint). */
  pass: AggregateResult;
}

function readOutput(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function defaultReportFile(root: string): string {
  return join(root, 'metrics', 'report.html');
}

/**
 * Bring the six outputs and the report's own series up to date (two
 * incremental passes, each from its own checkpoint: no full scan), then write
 * one self-contained HTML page atomically.
 */
export async function writeReport(options: ReportOptions = {}): Promise<ReportResult> {
  const ctx = storeContext(options);
  const progress = options.onProgress ? { onProgress: options.onProgress } : {};
  const cp = await loadCheckpoint(ctx.paths, orchestratorReducer);
  const out = options.out ?? (cp?.ok ? cp.value.out : undefined) ?? ctx.paths.root;
  if (!options.aggregated) await aggregate({ config: ctx.config, log: ctx.log, out, ...progress });
  const pass = await aggregate({ config: ctx.config, log: ctx.log, reducer: reportReducer, ...progress });
  const metrics = ctx.paths.metrics;
  const outputs: OutputsOnDisk = {
    baseline: readOutput(join(metrics, 'baseline.json')),
    postRollout: readOutput(join(metrics, 'post-rollout.json')),
    completeness: readOutput(join(metrics, 'completeness.json')),
    perEpoch: readOutput(join(metrics, 'per-epoch.json')) as OutputsOnDisk['perEpoch'],
    mttrDelta: readOutput(join(out, 'metrics', 'mttr-delta.json')),
    state: readOutput(join(out, 'state.json')),
  };
  const file = resolve(options.file ?? defaultReportFile(ctx.paths.root));
  const html = renderPage({ series: seriesOf(pass.state as ReportState), outputs, root: ctx.paths.root, generatedAt: new Date().toISOString() });
  writeTextAtomic(file, html, ctx.config.fsync === 'always');
  return { file, pass };
}
