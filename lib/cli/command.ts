import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { StoreContext } from '../store/store.js';

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

/** 512 B, 1.5 KiB, 12.3 MiB, 250 GiB: at most 8 characters. */
export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} B` : `${v < 99.95 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** A recorded_at for a table: UTC to the minute when it parses, else as stored (clipped). */
export function shortTime(iso: string | null): string | null {
  if (iso === null) return null;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 16).replace('T', ' ') : iso.slice(0, 16);
}

export function sealedLine(s: { file: string; lines: number; bytes: number }): string {
  return `sealed ${s.file} (${plural(s.lines, 'line')}, ${humanSize(s.bytes)})`;
}

/**
 * Progress for people watching a terminal, as `done/total item` on one
 * rewritten line; nothing when stderr is a pipe or file (logs stay clean).
 */
export function terminalProgress(ctx: CommandRun, label: string): (item: string, i: number, n: number) => void {
  // Asked on the first item of two or more, not up front: a one-file pass never makes process.stderr.
  let tty: boolean | undefined;
  return (item, i, n) => {
    if (n < 2) return;
    tty ??= ctx.io.stderr.isTTY === true;
    if (tty) ctx.io.stderr.write(`\rcodex-metrics: ${label}: ${i + 1}/${n} ${item}\x1b[K${i + 1 === n ? '\n' : ''}`);
  };
}
