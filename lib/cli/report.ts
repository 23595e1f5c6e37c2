import { resolve } from 'node:path';
import { writeReport } from '../report/report.js';
import { checkRoot } from '../store/store.js';
import { terminalProgress, type Command } from './command.js';

export const reportCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {
    out: { type: 'string', arg: 'FILE', help: 'the HTML file to write (default: <dir>/metrics/report.html)' },
  },
  details: [
    'One HTML file that works offline (uPlot inlined, no request): completion rate per day and per',
    'epoch against 0.95, MTTR over time against the baseline and the 0.6 x target, runs and failures',
    'per day, cost and tokens per epoch, the missing-field ratio, and the headline numbers of the six',
    'outputs. Brings the outputs up to date first; its series are kept incrementally in',
    'metrics/aggregate-state.report.json. --json prints {"file": path}.',
  ].join('\n'),
  async run(ctx) {
    await checkRoot(ctx.paths, true);
    const onProgress = terminalProgress(ctx, 'report');
    const out = typeof ctx.values['out'] === 'string' ? resolve(ctx.values['out']) : undefined;
    const { file } = await writeReport({ config: ctx.config, log: ctx.log, ...(out ? { file: out } : {}), onProgress });
    ctx.print(`wrote ${file}`, { file });
  },
};
