import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import { Recorder } from '../store/store.js';
import { plural, sealedLine, type Command } from './command.js';
import { runAggregate } from './aggregate.js';

/** Bytes, not text: the recorder checks they are UTF-8 rather than letting a decoder replace them. */
async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** How long record --aggregate waits for another aggregator (a long retention holds it) before skipping. */
const AGGREGATE_WAIT_MS = 10_000;

export const recordCommand: Command = {
  args: '[FILE]',
  maxPositionals: 1,
  options: {
    aggregate: { type: 'boolean', help: 'then bring the aggregate outputs up to date (as after each run)' },
    out: { type: 'string', arg: 'DIR', help: 'with --aggregate: where mttr-delta.json and state.json go (default: the metrics root)' },
  },
  details: [
    'The whole input is validated first: one line that is not a JSON object means nothing is written,',
    'and the error names the line. Blank lines are skipped. "-" or no FILE reads stdin.',
    'When another process holds the writer lock, the batch is spilled to metrics.pending/ and merged',
    'by the next lock holder; it is acknowledged either way.',
    'With --aggregate, exit 0 whenever the entries were recorded: an aggregation that would wait over',
    '10 s for another aggregator, or fails, is skipped and reported ({"aggregate": {"skipped": "<why>"}}).',
    'Input must be UTF-8 (the error names the first bad line); lines that will never count as a run',
    '(no non-empty run_id, status or recorded_at) are recorded with a warning naming them.',
  ].join('\n'),
  async run(ctx) {
    const file = ctx.positionals[0];
    let text: Buffer;
    let source: string;
    if (file === undefined || file === '-') {
      // A person who typed "codex-metrics record" sees a silent terminal otherwise.
      if (ctx.io.stdin.isTTY) ctx.io.stderr.write('codex-metrics: record: waiting for JSON lines on stdin, one object per line; end with Ctrl-D (or pass a FILE)\n');
      text = await readAll(ctx.io.stdin);
      source = 'stdin';
    } else {
      try {
        text = readFileSync(file);
      } catch (err) {
        throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
      }
      source = file;
    }
    // With an archive configured, what a hold sealed is archived once the writer lock is released (the store's after-seal seam).
    const archiving = ctx.config.archive
      ? async () => (await import('../archive/archiver.js')).archiveAfterSeal({ config: ctx.config, log: ctx.log, env: ctx.io.env }).then(() => undefined)
      : undefined;
    const recorder = await Recorder.open({ config: ctx.config, log: ctx.log, ...(archiving ? { afterSeal: archiving } : {}) });
    const result = await recorder.appendText(text, source);
    await recorder.close();
    const human = [
      `recorded ${plural(result.recorded, 'entry', 'entries')}${result.spilled ? ' (lock busy: spilled to metrics.pending/)' : ''}`,
      ...(result.merged ? [`merged ${plural(result.merged, 'pending entry', 'pending entries')}`] : []),
      ...result.sealed.map(sealedLine),
    ].join('\n');
    if (ctx.values['aggregate'] !== true) {
      ctx.print(human, { recorded: result.recorded });
      return;
    }
    // The entries are recorded: from here on nothing may turn that into a failure (exit 1 means
    // nothing was recorded). An aggregation that cannot run now is reported, and the next one catches up.
    let agg: Awaited<ReturnType<typeof runAggregate>>;
    try {
      agg = await runAggregate(ctx, false, AGGREGATE_WAIT_MS);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      ctx.log.warn({ err: why }, 'record: entries recorded; aggregation skipped (the next aggregate catches up)');
      ctx.print(`${human}\naggregate skipped: ${why}`, { recorded: result.recorded, aggregate: { skipped: why } });
      return;
    }
    ctx.print(`${human}\n${agg.human}`, { recorded: result.recorded, aggregate: agg.json });
  },
};
