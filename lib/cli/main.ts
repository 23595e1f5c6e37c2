import { parseArgs } from 'node:util';
import { loadConfig, type ConfigOptions } from '../config.js';
import { InputError, StoreError, UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { storePaths } from '../store/names.js';
import { systemClock } from '../store/clock.js';
import type { CliIO, Command, CommandRun, OptionSpec } from './command.js';
import { aggregateCommand } from './aggregate.js';
import { recordCommand } from './record.js';
import { retentionCommand } from './retention.js';
import { rotateCommand } from './rotate.js';
import { segmentsCommand } from './segments.js';
import { verifyCommand } from './verify.js';

const COMMANDS: Command[] = [recordCommand, aggregateCommand, segmentsCommand, rotateCommand, retentionCommand, verifyCommand];

const COMMON: Record<string, OptionSpec> = {
  dir: { type: 'string', arg: 'DIR', help: 'metrics root (default: $CODEX_METRICS_DIR, else the current directory)' },
  json: { type: 'boolean', help: 'machine-readable output on stdout' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

function optionLines(options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`, o.help]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`).join('\n');
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: codex-metrics <command> [options]',
    '',
    'A rotating, segmented JSON Lines store for run metrics.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    optionLines(COMMON),
    '',
    "Run 'codex-metrics <command> --help' for a command's options.",
    'Exit status: 0 success, 2 bad usage or configuration, 1 any other failure.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return [
    `Usage: codex-metrics ${c.name} ${c.args ? `${c.args} ` : ''}[options]`,
    '',
    c.summary,
    '',
    'Options:',
    optionLines({ ...c.options, ...COMMON }),
    ...(c.details ? ['', c.details] : []),
  ].join('\n');
}

function exitCodeOf(err: unknown): number {
  return err instanceof UsageError ? 2 : 1;
}

/** The contract's last line is one plain line: messages that quote input may hold newlines. */
function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim() || 'unknown error';
}

/** Parser messages: the first sentence says what is wrong; later ones are Node's advice. */
function parseProblem(err: unknown): string {
  const msg = (err as Error).message;
  // "argument is ambiguous" alone does not say a value was missing; keep its second sentence.
  return /ambiguous/.test(msg) ? msg.split('\n').slice(0, 2).join(' ') : msg.split(/\.\s|\n/)[0]!;
}

/** `codex-metrics --dir D --json segments` reads as `codex-metrics segments --dir D --json`. */
function commandFirst(argv: string[]): string[] {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--json' || a.startsWith('--dir=')) lead.push(a);
    else if (a === '--dir' && i + 1 < argv.length) lead.push(a, argv[++i]!);
    else break;
    i++;
  }
  return i < argv.length ? [argv[i]!, ...lead, ...argv.slice(i + 1)] : argv;
}

/** Runs one command line; returns the exit status instead of exiting, so tests can call it. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const write = (s: NodeJS.WritableStream, text: string) => s.write(text.endsWith('\n') ? text : `${text}\n`);
  const [name, ...rest] = commandFirst(argv);
  try {
    if (name === '--help' || name === '-h' || name === 'help') {
      write(io.stdout, mainHelp());
      return 0;
    }
    if (name === undefined) {
      write(io.stderr, mainHelp());
      throw new UsageError('missing command');
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...command.options, ...COMMON } as Parameters<typeof parseArgs>[0] extends infer P ? P extends { options?: infer O } ? O : never : never,
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      throw new UsageError(`${name}: ${parseProblem(err)}`);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values['help']) {
      write(io.stdout, commandHelp(command));
      return 0;
    }
    if (parsed.positionals.length > command.maxPositionals) {
      throw new UsageError(`${name}: unexpected argument "${parsed.positionals[command.maxPositionals]}"`);
    }
    const options: ConfigOptions = { ...(command.configFrom?.(values) ?? {}) };
    if (values['dir'] === '') throw new UsageError(`${name}: --dir needs a directory, not an empty string`);
    if (typeof values['dir'] === 'string') options.dir = values['dir'];
    const config = loadConfig(options, { env: io.env, defaultLogLevel: 'warn' });
    const log = createLogger(config.logLevel);
    const json = values['json'] === true;
    const ctx: CommandRun = {
      config,
      log,
      paths: storePaths(config.dir),
      clock: systemClock,
      values,
      positionals: parsed.positionals,
      json,
      io,
      print(human, data) {
        write(io.stdout, json ? JSON.stringify(data) : human);
      },
    };
    await command.run(ctx);
    return 0;
  } catch (err) {
    io.stderr.write(`codex-metrics: ${reasonOf(err)}\n`);
    return exitCodeOf(err);
  }
}

export async function run(): Promise<void> {
  // If a bug ever left a promise unsettled, Node would exit on an empty event loop: fail, don't pass.
  process.exitCode = 1;
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
  });
  process.exitCode = code;
}
