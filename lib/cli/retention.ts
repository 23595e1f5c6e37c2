import { lstatSync } from 'node:fs';
import { checkpointPath } from '../aggregate/checkpoint.js';
import { orchestratorReducer } from '../aggregate/orchestrator.js';
import { reportReducer } from '../report/reducer.js';
import { parseCount, parseDuration, parseSize } from '../config.js';
import { ifExistsSync, UsageError } from '../errors.js';
import { retention } from '../retention/retention.js';
import { hasLimit } from '../retention/policy.js';
import { plural, terminalProgress, type Command } from './command.js';

export const retentionCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {
    'max-segments': { type: 'string', arg: 'N', help: 'keep at most N sealed segments (0: none)' },
    'max-age': { type: 'string', arg: 'D', help: 'delete segments sealed longer ago than D (90m, 12h, 30d)' },
    'max-bytes': { type: 'string', arg: 'B', help: 'keep the newest segments up to B bytes on disk (10MiB, 1GB)' },
    'dry-run': { type: 'boolean', help: 'print what would be deleted; change nothing' },
  },
  details: [
    'Limits count sealed segments only; the active file is never touched. Flags override',
    'CODEX_METRICS_RETENTION_MAX_SEGMENTS / _MAX_AGE / _MAX_BYTES and config files.',
    'Deleted segments are first folded into metrics/retained-base.json, so aggregates do not change.',
  ].join('\n'),
  // Parsed here rather than by loadConfig so an error names the flag the user typed.
  configFrom(values) {
    const flag = (name: string) => {
      const raw = values[name];
      if (typeof raw !== 'string') return undefined;
      // An empty value is "unset" in env and config files; on the command line it is a mistake ("--max-segments $N").
      if (raw.trim() === '') throw new UsageError(`invalid --${name}="${raw}": expected a value`);
      return raw;
    };
    const policy = {
      maxSegments: parseCount(flag('max-segments'), '--max-segments'),
      maxAge: parseDuration(flag('max-age'), '--max-age'),
      maxBytes: parseSize(flag('max-bytes'), '--max-bytes'),
    };
    return { retention: Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined)) };
  },
  async run(ctx) {
    // The report's series are a reducer of their own: once a report was written, retention folds them too.
    const reportCheckpoint = checkpointPath(ctx.paths, reportReducer);
    const reducers = [orchestratorReducer, ...(ifExistsSync(() => lstatSync(reportCheckpoint)) ? [reportReducer] : [])];
    const onProgress = terminalProgress(ctx, 'retention: fold');
    const result = await retention({ config: ctx.config, log: ctx.log, dryRun: ctx.values['dry-run'] === true, reducers, onProgress });
    const [deleted, kept] = result.dryRun ? ['would delete', 'would keep'] : ['deleted', 'kept'];
    const human = [
      ...(hasLimit(ctx.config.retention) ? [] : ['no retention limit set (--max-segments, --max-age, --max-bytes or CODEX_METRICS_RETENTION_*)']),
      ...result.deleted.map((f) => `${deleted} ${f}`),
      `${deleted} ${plural(result.deleted.length, 'segment')}, ${kept} ${result.kept}`,
      ...(result.keptUnarchived ? [`${kept} ${plural(result.keptUnarchived, 'segment')} the policy would delete: not archived yet (run \`codex-metrics archive\`)`] : []),
    ].join('\n');
    // keptUnarchived only with an archive configured: without one the contract's shape is unchanged.
    const unarchived = result.keptUnarchived === undefined ? {} : { keptUnarchived: result.keptUnarchived };
    ctx.print(human, { deleted: result.deleted, kept: result.kept, ...unarchived });
  },
};
