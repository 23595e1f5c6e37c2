import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { StoreContext } from '../store/recorder.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in --help; values in angle brackets. */
  help: string;
  arg?: string;
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
}

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Ends long-running commands (tail --follow): SIGINT in the real CLI. */
  signal?: AbortSignal;
}

export interface CommandRun extends StoreContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  io: CliIO;
  config: Config;
  log: Logger;
  /** Print data to stdout: `human` unless --json, then `json` as one line. */
  print(human: string, json: unknown): void;
}

/** A command's parser and work; its name and summary live in main.ts's table. */
export interface Command {
  /** Positional part of the usage line, e.g. "[FILE]". */
  args: string;
  maxPositionals: number;
  options: Record<string, OptionSpec>;
  /** Extra help text after the options. */
  details?: string;
  /** Flags that map onto config options (parsed with the config's own rules). */
  configFrom?: (values: Record<string, string | boolean | string[] | undefined>) => import('../config.js').ConfigOptions;
  run(ctx: CommandRun): Promise<void>;
}

/** Fixed-width table for people; machines use --json. */
export function table(header: string[], rows: Array<Array<string | number | null>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** "1 entry", "2 entries": people read the human output. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function sealedLine(s: { file: string; lines: number; bytes: number }): string {
  return `sealed ${s.file} (${plural(s.lines, 'line')}, ${plural(s.bytes, 'byte')})`;
}
