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

const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/**
 * pino's level methods (`log.warn(obj, msg)`, `log[level](...)`) over `emit`,
 * which is called only for lines at `level` or above. All the store calls.
 */
export function levelLogger(level: string, emit: (name: string, obj: unknown, msg: string | undefined) => void): Logger {
  const threshold = level === 'silent' ? Infinity : (LEVEL_VALUES[level] ?? LEVEL_VALUES['warn']!);
  const logger: Record<string, unknown> = {
    level,
    isLevelEnabled: (l: string) => (LEVEL_VALUES[l] ?? Infinity) >= threshold,
    child: () => logger,
    silent: () => undefined,
  };
  for (const [name, value] of Object.entries(LEVEL_VALUES)) {
    logger[name] = (obj: unknown, msg?: string) => {
      if (value >= threshold) emit(name, obj, msg);
    };
  }
  return logger as unknown as Logger;
}

/**
 * The CLI's JSON logs: lines on stderr through pino, imported at the first line
 * at an enabled level. A run in --json mode mostly logs nothing, and importing
 * pino took ~34 ms of a `record --aggregate --json`. Only the level methods the
 * store calls (no child bindings, no format arguments): never handed to callers.
 */
export function jsonLogger(level: string): Logger {
  let pino: Record<string, (obj: unknown, msg?: string) => void> | undefined;
  return levelLogger(level, (name, obj, msg) => {
    pino ??= createLogger(level) as unknown as Record<string, (obj: unknown, msg?: string) => void>;
    if (msg === undefined) pino[name]!(obj);
    else pino[name]!(obj, msg);
  });
}

const shared = new Map<string, Logger>();

/**
 * The library's own logger when the caller passes none, made once per level:
 * a call per run (`aggregate({ logLevel })`) would otherwise build a pino
 * instance and a stderr stream each time (~0.1 ms). Never handed to callers
 * to change: they pass their own `log`. A real pino logger: callers reach it
 * as `storeContext().log` and may use all of pino (child, format arguments).
 */
export function defaultLogger(level: string): Logger {
  let logger = shared.get(level);
  if (!logger) shared.set(level, (logger = createLogger(level)));
  return logger;
}
