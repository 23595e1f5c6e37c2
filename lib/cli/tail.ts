import { parseCount } from '../config.js';
import { UsageError } from '../errors.js';
import { tail } from '../query/tail.js';
import { checkRoot } from '../store/store.js';
import { type Command, type CommandRun } from './command.js';
import { dataOut } from './output.js';

/** Aborted on SIGINT (Ctrl-C): following ends there, with exit 0. */
function interrupted(ctx: CommandRun): { signal: AbortSignal; done(): void } {
  if (ctx.io.signal) return { signal: ctx.io.signal, done: () => undefined };
  const ac = new AbortController();
  const onInt = () => ac.abort();
  process.once('SIGINT', onInt);
  return { signal: ac.signal, done: () => process.off('SIGINT', onInt) };
}

export const tailCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {
    lines: { type: 'string', short: 'n', arg: 'N', help: 'how many of the last entries to print first (default 10)' },
    follow: { type: 'boolean', short: 'f', help: 'then print new entries as they are appended, until interrupted (Ctrl-C)' },
  },
  details: [
    'Entries are printed exactly as stored, one JSON line each, in store order. --follow keeps going',
    'across seals (gzip too) without taking any lock, and never prints a partly written line.',
  ].join('\n'),
  async run(ctx) {
    if (ctx.values['lines'] === '') throw new UsageError('invalid -n "": expected a whole number >= 0');
    const last = parseCount(ctx.values['lines'], '-n') ?? 10;
    await checkRoot(ctx.paths, true);
    const out = dataOut(ctx.io);
    const follow = ctx.values['follow'] === true ? interrupted(ctx) : undefined;
    try {
      await tail(ctx, {
        last,
        ...(follow ? { follow: follow.signal } : {}),
        onEntry(line) {
          out.write(`${line}\n`);
          return !out.closed;
        },
        onBatch: out.flush,
        onSkip: (file, line) => {
          ctx.log.warn(`tail: skipped ${file}:${line}, not a JSON object`);
        },
      });
    } finally {
      follow?.done();
      out.flush();
    }
  },
};
