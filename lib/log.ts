import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type { Logger };

/**
 * pino costs ~35 ms to import: loaded on the first logger made, not with
 * this module (the CLI logs through pino only in JSON mode).
 */
const requirePino = () => (createRequire(import.meta.url)('pino') as typeof import('pino')).pino;

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function isLogLevel(value: string): boolean {
  return LEVELS.has(value);
}

/**
 * Logs go to stderr so stdout stays data. Synchronous writes: a CLI that exits
 * right after a failure must not lose the line that explains it.
 */
export function createLogger(level: string): Logger {
  const pino = requirePino();
  return pino({ name: 'codex-metrics', level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

const shared = new Map<string, Logger>();

/**
 * The library's own logger when the caller passes none, made once per level:
 * a call per run (`aggregate({ logLevel })`) would otherwise build a pino
 * instance and a stderr stream each time (~0.1 ms). Never handed to callers
 * to change: they pass their own `log`.
 */
export function defaultLogger(level: string): Logger {
  let logger = shared.get(level);
  if (!logger) shared.set(level, (logger = createLogger(level)));
  return logger;
}
