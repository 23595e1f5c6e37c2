/**
 * What counts as a run, as the orchestrator counts today: a JSON object whose
 * run_id, status and recorded_at are non-empty strings after trimming. The
 * first line with a run_id counts; later ones are duplicates (decided by the
 * caller, which knows positions). Blank lines are nothing at all.
 */
export type Classified =
  | { kind: 'blank' }
  | { kind: 'malformed'; detail: string }
  | { kind: 'invalid'; detail: string }
  | { kind: 'run'; entry: Record<string, unknown>; runId: string };

const BLANK: Classified = { kind: 'blank' };

/**
 * Deeper than this, a value cannot count: JSON.parse takes any depth, but
 * serializing a reducer state that holds it (a baseline keeps
 * duration_seconds as written) overflows the stack and would stop every later
 * aggregation. Real entries nest a handful of levels.
 */
export const MAX_NESTING = 512;

/** Cheap first look: a line needs at least MAX_NESTING openers to nest that deep. */
function hasManyOpeners(text: string): boolean {
  let n = 0;
  for (const opener of ['[', '{']) {
    for (let i = text.indexOf(opener); i !== -1; i = text.indexOf(opener, i + 1)) if (++n >= MAX_NESTING) return true;
  }
  return false;
}

/** How deep arrays and objects nest in valid JSON text (brackets inside strings do not count). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string, escapes included.
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}
const REQUIRED = ['run_id', 'status', 'recorded_at'] as const;

/**
 * Why a line that parsed to `value` can never count as a run (undefined: it
 * counts, unless its run_id was seen before). `text` is the line as stored.
 */
export function whyNotARun(value: unknown, text: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `not an object (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
  }
  if (hasManyOpeners(text)) {
    const depth = nestingDepth(text);
    if (depth > MAX_NESTING) return `nested ${depth} levels deep (more than ${MAX_NESTING} cannot count)`;
  }
  const entry = value as Record<string, unknown>;
  for (const field of REQUIRED) {
    const v = entry[field];
    if (typeof v !== 'string' || v.trim() === '') return `${field} is not a non-empty string`;
  }
  return undefined;
}

export function classifyLine(text: string): Classified {
  if (text.charCodeAt(0) !== 0x7b && text.trim() === '') return BLANK;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'malformed', detail: (err as Error).message };
  }
  const why = whyNotARun(value, text);
  if (why !== undefined) return { kind: 'invalid', detail: why };
  const entry = value as Record<string, unknown>;
  return { kind: 'run', entry, runId: (entry['run_id'] as string).trim() };
}
