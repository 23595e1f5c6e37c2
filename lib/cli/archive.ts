import { archive } from '../archive/archiver.js';
import { plural, terminalProgress, type Command } from './command.js';

export const archiveCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {
    to: { type: 'string', arg: 'URL', help: 'the archive: s3://bucket/prefix, a file: URL or a directory (default: CODEX_METRICS_ARCHIVE)' },
    'dry-run': { type: 'boolean', help: 'print what would be copied; copy nothing' },
  },
  details: [
    'Segments go to <archive>/<storeId>/<segment file>, then the catalogue to <archive>/<storeId>/index.json.',
    'An archived segment is never overwritten: one holding other bytes is an error.',
    'S3: endpoint CODEX_METRICS_S3_ENDPOINT (path-style), credentials AWS_ACCESS_KEY_ID,',
    'AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, region AWS_REGION.',
  ].join('\n'),
  async run(ctx) {
    const to = ctx.values['to'];
    const onProgress = terminalProgress(ctx, 'archive');
    const result = await archive({
      config: ctx.config,
      log: ctx.log,
      env: ctx.io.env,
      dryRun: ctx.values['dry-run'] === true,
      ...(typeof to === 'string' ? { to } : {}),
      onProgress: (i: number, n: number, file: string) => onProgress(file, i, n),
    });
    const verb = result.dryRun ? 'would archive' : 'archived';
    const human = [
      ...result.archived.map((f) => `${verb} ${f}`),
      `${verb} ${plural(result.archived.length, 'segment')} to ${result.url}/${result.storeId}; ${result.already} already there, ${result.remaining} remaining`,
    ].join('\n');
    ctx.print(human, { archived: result.archived, already: result.already, remaining: result.remaining });
  },
};
