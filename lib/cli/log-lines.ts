import { levelLogger, type Logger } from '../log.js';

/**
 * Logs for a person at a terminal: one short line per record on stderr,
 * "codex-metrics: warning: sealed segment (seq 3, file metrics-…jsonl)",
 * instead of pino's JSON. Same calls as pino's (`log.warn(obj, msg)`), so
 * the library cannot tell; JSON logs stay one flag away (--log-format json).
 */
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
  return levelLogger(level, (name, obj, msg) => stderr().write(`${formatLogLine(name, obj, msg)}\n`));
}
