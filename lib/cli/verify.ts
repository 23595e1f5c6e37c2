import { StoreError } from '../errors.js';
import { verify } from '../verify/verify.js';
import { plural, terminalProgress, type Command } from './command.js';

export const verifyCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {
    repair: { type: 'boolean', help: 'quarantine broken bytes to metrics.corrupt/, rebuild the index, remove stale temps' },
  },
  details: 'Exit 1 while any error remains; warnings (lines that do not count, foreign files, symlinks) do not fail.',
  async run(ctx) {
    const onProgress = terminalProgress(ctx, 'verify');
    const result = await verify({ config: ctx.config, log: ctx.log, repair: ctx.values['repair'] === true, onProgress });
    const errors = result.problems.filter((p) => p.severity === 'error').length;
    const human = [
      ...result.repaired.map((r) => `repaired: ${r}`),
      ...result.problems.map((p) => `${p.severity}: ${p.file}: ${p.kind}: ${p.detail}`),
      result.ok ? `ok (${plural(result.problems.length, 'warning')})` : plural(errors, 'error'),
    ].join('\n');
    ctx.print(human, { ok: result.ok, problems: result.problems.map(({ file, kind, detail, severity }) => ({ file, kind, detail, severity })) });
    if (!result.ok) throw new StoreError(`verify found ${plural(errors, 'error')}${ctx.values['repair'] ? ' it could not repair' : ' (try --repair)'}`);
  },
};
