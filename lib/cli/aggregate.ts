import { UsageError } from '../errors.js';
import { basename, resolve } from 'node:path';
import { aggregate, type AggregateResult } from '../aggregate/aggregator.js';
import { plural, terminalProgress, type Command, type CommandRun } from './command.js';

/** Progress of an aggregate pass (report runs one too). */
export function progress(ctx: CommandRun): (file: string, i: number, n: number) => void {
  return terminalProgress(ctx, 'aggregate');
}

export async function runAggregate(ctx: CommandRun, rebuild: boolean, lockWaitMs?: number): Promise<{ human: string; json: Record<string, unknown>; result: AggregateResult }> {
  const out = typeof ctx.values['out'] === 'string' ? resolve(ctx.values['out']) : undefined;
  const onProgress = progress(ctx);
  const result = await aggregate({
    config: ctx.config,
    log: ctx.log,
    rebuild,
    ...(ctx.values['accept-partial'] === true ? { acceptPartial: true } : {}),
    ...(lockWaitMs !== undefined ? { lockWaitMs } : {}),
    ...(out ? { out } : {}),
    onProgress,
  });
  const json = {
    mode: result.mode,
    linesRead: result.linesRead,
    malformed: result.malformed,
    invalid: result.invalid,
    duplicates: result.duplicates,
    totalRuns: result.totalRuns,
  };
  const outputs = result.written.filter((f) => !basename(f).startsWith('aggregate-state')).length;
  const human = [
    `aggregate (${result.mode}${result.reason && result.mode === 'rebuild' ? `: ${result.reason}` : ''}): read ${plural(result.linesRead, 'line')}, skipped ${result.malformed} malformed, ${result.invalid} invalid, ${result.duplicates} duplicate; ${plural(result.totalRuns, 'run')} in all`,
    ...result.problems.map((p) => `  skipped ${p.file}:${p.line} (${p.kind}: ${p.detail})`),
    outputs > 0 ? `wrote ${plural(outputs, 'output file')}` : result.written.length ? 'no counted run yet: no outputs' : 'nothing new: outputs already up to date',
    ...(result.coversFromSeq !== undefined ? [`partial: the outputs cover segments ${result.coversFromSeq} onward (the history before was given up with --accept-partial)`] : []),
  ].join('\n');
  return { human, json, result };
}

export const aggregateCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {
    out: { type: 'string', arg: 'DIR', help: 'where metrics/mttr-delta.json and state.json go (default: the metrics root)' },
    rebuild: { type: 'boolean', help: 'ignore the checkpoint: fold the retained base and every segment again' },
    'accept-partial': { type: 'boolean', help: 'with --rebuild: give up a retained base no reducer upgrade can read (kept aside) and rebuild from the segments left' },
    report: { type: 'boolean', help: 'then write the HTML report (metrics/report.html), as the report command does' },
  },
  details: [
    'Outputs: <dir>/metrics/{baseline,post-rollout,completeness,per-epoch}.json,',
    '<out>/metrics/mttr-delta.json, <out>/state.json; checkpoint <dir>/metrics/aggregate-state.json.',
    '--json prints this pass: {"mode","linesRead","malformed","invalid","duplicates","totalRuns"};',
    'linesRead and the skip counts are for the lines this pass read, totalRuns is over all history.',
  ].join('\n'),
  async run(ctx) {
    if (ctx.values['accept-partial'] === true && ctx.values['rebuild'] !== true) throw new UsageError('aggregate: --accept-partial needs --rebuild (it rebuilds from the segments that are left)');
    const { human, json } = await runAggregate(ctx, ctx.values['rebuild'] === true);
    if (ctx.values['report'] !== true) return ctx.print(human, json);
    const { writeReport } = await import('../report/report.js');
    const out = typeof ctx.values['out'] === 'string' ? resolve(ctx.values['out']) : undefined;
    const onProgress = progress(ctx);
    const { file } = await writeReport({ config: ctx.config, log: ctx.log, aggregated: true, ...(out ? { out } : {}), onProgress });
    ctx.print(`${human}\nwrote ${file}`, { ...json, report: file });
  },
};
