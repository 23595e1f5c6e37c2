import { flatten } from '../flatten/flatten.js';
import { plural, type Command } from './command.js';

export const flattenCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {},
  details: [
    'For going back to the orchestrator\'s own recorder and aggregator, which read only metrics.json.',
    'Holds the writer lock and the aggregate lock; each line lands exactly once, and a kill at any',
    'moment is finished or undone by the next lock holder. Turn rotation off first, or the next',
    'append may seal again. Checkpoints are dropped: the next aggregate rebuilds.',
    '--json: {"segments": [file...], "lines": N, "bytes": N}.',
  ].join('\n'),
  async run(ctx) {
    const r = await flatten({ config: ctx.config, log: ctx.log });
    const human = [
      `flattened ${plural(r.segments.length, 'segment')} and the active file into metrics.json (${plural(r.lines, 'line')}, ${plural(r.bytes, 'byte')})`,
      ...(r.missingBefore !== undefined ? [`warning: segments before ${r.missingBefore} were deleted by retention; only metrics/retained-base.json holds them`] : []),
    ].join('\n');
    ctx.print(human, { segments: r.segments, lines: r.lines, bytes: r.bytes });
  },
};
