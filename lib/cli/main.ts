import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig, PACKAGE_FILE, type ConfigOptions } from '../config.js';
import { diskFullAs, UsageError } from '../errors.js';
import { jsonLogger } from '../log.js';
// The light part of the front door: the whole store module graph is loaded only by the command that runs.
import { storeContext } from '../store/context.js';
import { adviceFor } from './advice.js';
import type { CliIO, Command, CommandRun, OptionSpec } from './command.js';
import { lineLogger } from './log-lines.js';

interface CommandEntry {
  name: string;
  summary: string;
  /** Loaded only when run: a command's modules (pino, zlib, split2...) cost start-up time. */
  load: () => Promise<Command>;
}

/** One line per command. */
const COMMANDS: CommandEntry[] = [
  { name: 'record', summary: 'append entries: one JSON object per line from FILE or stdin; rotates per config', load: async () => (await import('./record.js')).recordCommand },
  { name: 'aggregate', summary: 'bring every aggregate output up to date (incremental unless --rebuild)', load: async () => (await import('./aggregate.js')).aggregateCommand },
  { name: 'segments', summary: 'list sealed segments and the active file, in order', load: async () => (await import('./segments.js')).segmentsCommand },
  { name: 'query', summary: 'print stored entries by time window and field, as JSON Lines, CSV or a table', load: async () => (await import('./query.js')).queryCommand },
  { name: 'tail', summary: 'print the last entries; --follow keeps printing new ones across seals', load: async () => (await import('./tail.js')).tailCommand },
  { name: 'report', summary: 'write one self-contained HTML report with charts (default metrics/report.html)', load: async () => (await import('./report.js')).reportCommand },
  { name: 'rotate', summary: 'seal the active file now (an empty active file is left alone)', load: async () => (await import('./rotate.js')).rotateCommand },
  { name: 'retention', summary: 'fold, then delete the oldest sealed segments past the policy', load: async () => (await import('./retention.js')).retentionCommand },
  { name: 'archive', summary: 'copy every sealed segment not yet archived to the archive, bytes unchanged, exactly once', load: async () => (await import('./archive.js')).archiveCommand },
  { name: 'verify', summary: 'check segments against the index, torn tails, stray files; --repair fixes what it can', load: async () => (await import('./verify.js')).verifyCommand },
  { name: 'flatten', summary: 'the way back: write every segment (gzip too), then the active file, into one metrics.json', load: async () => (await import('./flatten.js')).flattenCommand },
];

const COMMON: Record<string, OptionSpec> = {
  dir: { type: 'string', arg: 'DIR', help: 'metrics root (default: $CODEX_METRICS_DIR, else the current directory)' },
  json: { type: 'boolean', help: 'machine-readable output on stdout (and JSON logs on stderr)' },
  'log-format': { type: 'string', arg: 'F', help: 'logs on stderr: "text" (short lines, the default) or "json" (pino)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

const EXAMPLES = [
  'echo \'{"run_id":"r1","status":"succeeded","recorded_at":"2026-01-06T07:49:03Z"}\' | codex-metrics record --aggregate',
  'codex-metrics segments --dir .runs/task-42',
  'codex-metrics query --since 2026-01-06 --until 2026-01-07 --where status=failed --format table',
  'codex-metrics tail -n 20 --follow',
  'codex-metrics report && xdg-open metrics/report.html',
  'CODEX_METRICS_MAX_BYTES=10MiB CODEX_METRICS_COMPRESS=gzip codex-metrics record runs.jsonl',
  'codex-metrics retention --max-age 90d --dry-run',
];

const VARIABLES: Array<[string, string]> = [
  ['CODEX_METRICS_DIR', 'metrics root when --dir is not given'],
  ['CODEX_METRICS_CONFIG', 'a JSON config file (below the environment, above config/default.json)'],
  ['CODEX_METRICS_MAX_BYTES', 'seal the active file before it passes this size (10MiB, 512KB)'],
  ['CODEX_METRICS_MAX_LINES', 'seal before it passes this many lines'],
  ['CODEX_METRICS_ROTATE_INTERVAL', 'also seal a segment older than this (1h, 1d)'],
  ['CODEX_METRICS_ROTATE_AT', 'also seal at the first append after this time of day (00:00)'],
  ['CODEX_METRICS_COMPRESS', '"gzip" compresses segments when sealed'],
  ['CODEX_METRICS_RETENTION_MAX_SEGMENTS', 'retention: keep at most this many sealed segments'],
  ['CODEX_METRICS_RETENTION_MAX_AGE', 'retention: delete segments sealed longer ago (30d)'],
  ['CODEX_METRICS_RETENTION_MAX_BYTES', 'retention: keep the newest segments up to this size'],
  ['CODEX_METRICS_FSYNC', 'always | seal (default) | never'],
  ['CODEX_METRICS_LOCK_STALE_MS', 'age after which a lock from another host is stale (300000)'],
  ['CODEX_METRICS_LOG_LEVEL', 'fatal | error | warn (CLI default) | info | debug | trace | silent'],
  ['CODEX_METRICS_ARCHIVE', 'where sealed segments are archived: s3://bucket/prefix or a directory'],
  ['CODEX_METRICS_S3_ENDPOINT', 'S3-compatible endpoint URL (path-style)'],
];

/** package.json's version: read when asked, not at start-up. */
function version(): string {
  const pkg = JSON.parse(readFileSync(PACKAGE_FILE, 'utf8')) as { version: string };
  return pkg.version;
}

function optionLines(options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`, o.help]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`).join('\n');
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const varWidth = Math.max(...VARIABLES.map(([v]) => v.length));
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
    '  --version         print the version',
    '',
    'Examples:',
    ...EXAMPLES.map((e) => `  ${e}`),
    '',
    'Environment (flags win over the environment, which wins over config files):',
    ...VARIABLES.map(([v, d]) => `  ${v.padEnd(varWidth)}  ${d}`),
    '',
    "Run 'codex-metrics <command> --help' for a command's options.",
    'Exit status: 0 success, 2 bad usage or configuration, 1 any other failure.',
  ].join('\n');
}

function commandHelp(entry: CommandEntry, c: Command): string {
  return [
    `Usage: codex-metrics ${entry.name} ${c.args ? `${c.args} ` : ''}[options]`,
    '',
    entry.summary,
    '',
    'Options:',
    optionLines({ ...c.options, ...COMMON }),
    ...(c.details ? ['', c.details] : []),
  ].join('\n');
}

function exitCodeOf(err: unknown): number {
  return err instanceof UsageError ? 2 : 1;
}

/**
 * The contract's last line is one plain line (messages that quote input may
 * hold newlines), with what to do when the file system refused.
 */
function reasonOf(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s*[\r\n]+\s*/g, ' ').trim() || 'unknown error';
  const advice = adviceFor(err);
  return advice ? `${text}: ${advice}` : text;
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
    if (a === '--json' || a.startsWith('--dir=') || a.startsWith('--log-format=')) lead.push(a);
    else if ((a === '--dir' || a === '--log-format') && i + 1 < argv.length) lead.push(a, argv[++i]!);
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
    if (name === '--version' || name === '-V' || name === 'version') {
      write(io.stdout, rest.includes('--json') ? JSON.stringify({ version: version() }) : version());
      return 0;
    }
    if (name === undefined) {
      write(io.stderr, mainHelp());
      throw new UsageError('missing command');
    }
    const entry = COMMANDS.find((c) => c.name === name);
    if (!entry) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    const command = await entry.load();
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
    const values = parsed.values as CommandRun['values'];
    if (values['help']) {
      write(io.stdout, commandHelp(entry, command));
      return 0;
    }
    if (parsed.positionals.length > command.maxPositionals) {
      throw new UsageError(`${name}: unexpected argument "${parsed.positionals[command.maxPositionals]}"`);
    }
    const options: ConfigOptions = { ...(command.configFrom?.(values) ?? {}) };
    if (values['dir'] === '') throw new UsageError(`${name}: --dir needs a directory, not an empty string`);
    if (typeof values['dir'] === 'string') options.dir = values['dir'];
    const logFormat = values['log-format'] ?? 'text';
    if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`invalid --log-format "${String(logFormat)}": expected text or json`);
    const config = loadConfig(options, { env: io.env, defaultLogLevel: 'warn' });
    const json = values['json'] === true;
    const log = json || logFormat === 'json' ? jsonLogger(config.logLevel) : lineLogger(config.logLevel, () => io.stderr);
    const ctx: CommandRun = {
      ...storeContext({ config, log }),
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
  } catch (caught) {
    // A full disk met outside the store's own writes (the lock file, a directory) says the same.
    const err = diskFullAs((caught as { path?: string }).path ?? 'the store', caught);
    io.stderr.write(`codex-metrics: ${reasonOf(err)}\n`);
    return exitCodeOf(err);
  }
}

export async function run(): Promise<void> {
  // If a bug ever left a promise unsettled, Node would exit on an empty event loop: fail, don't pass.
  process.exitCode = 1;
  const code = await main(process.argv.slice(2), {
    // Getters: Node makes a stdio stream when first touched, and a pipe's loads net (~4 ms of a
    // start-up); only record reads stdin, and a quiet command never touches stderr.
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  });
  process.exitCode = code;
}
