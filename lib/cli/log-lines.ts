import type { Logger } from '../log.js';

/**
 * Logs for a person at a terminal: one short line per record on stderr,
 * "codex-metrics: warning: sealed segment (seq 3, file metrics-…jsonl)",
 * instead of pino's JSON. Same calls as pino's (`log.warn(obj, msg)`), so
 * the library cannot tell; JSON logs stay one flag away (--log-format json).
 */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const LABEL: Record<string, string> = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warning', error: 'error', fatal: 'fatal' };

const MAX_VALUE = 160;

function valueText(v: unknown): string {
  if (v instanceof Error) return v.message;
  const text = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

export function formatLogLine(level: string, obj: unknown, msg: string | undefined): string {
  let text = msg ?? '';
  let fields: Record<string, unknown> = {};
  if (typeof obj === 'string') text = obj;
  else if (obj instanceof Error) text = text || obj.message;
  else if (typeof obj === 'object' && obj !== null) fields = obj as Record<string, unknown>;
  const details = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${valueText(v)}`);
  return `codex-metrics: ${LABEL[level] ?? level}: ${text}${details.length ? ` (${details.join(', ')})` : ''}`.replace(/[\r\n]+/g, ' ');
}

/** `stderr` is asked for only when a line is written: making process.stderr (a pipe loads net) costs start-up. */
export function lineLogger(level: string, stderr: () => NodeJS.WritableStream): Logger {
  const threshold = LEVELS[level] ?? LEVELS['warn']!;
  const logger: Record<string, unknown> = {
    level,
    isLevelEnabled: (l: string) => (LEVELS[l] ?? Infinity) >= threshold,
    child: () => logger,
  };
  for (const name of Object.keys(LABEL)) {
    logger[name] = (obj: unknown, msg?: string) => {
      if (LEVELS[name]! >= threshold) stderr().write(`${formatLogLine(name, obj, msg)}\n`);
    };
  }
  logger['silent'] = () => undefined;
  return logger as unknown as Logger;
}
