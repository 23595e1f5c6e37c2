import { pino, type Logger } from 'pino';

export type { Logger };

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function isLogLevel(value: string): boolean {
  return LEVELS.has(value);
}

/**
 * Logs go to stderr so stdout stays data. Synchronous writes: a CLI that exits
 * right after a failure must not lose the line that explains it.
 */
export function createLogger(level: string): Logger {
  return pino(
    { name: 'codex-metrics', level, base: { pid: process.pid } },
    pino.destination({ dest: 2, sync: true }),
  );
}
