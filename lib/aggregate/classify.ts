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
const REQUIRED = ['run_id', 'status', 'recorded_at'] as const;

export function classifyLine(text: string): Classified {
  if (text.charCodeAt(0) !== 0x7b && text.trim() === '') return BLANK;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'malformed', detail: (err as Error).message };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'invalid', detail: `not an object (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})` };
  }
  const entry = value as Record<string, unknown>;
  for (const field of REQUIRED) {
    const v = entry[field];
    if (typeof v !== 'string' || v.trim() === '') return { kind: 'invalid', detail: `${field} is not a non-empty string` };
  }
  return { kind: 'run', entry, runId: (entry['run_id'] as string).trim() };
}
