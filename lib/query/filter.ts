import { UsageError } from '../errors.js';
import { timeOf, type SegmentRecord } from '../store/store.js';

/**
 * Which stored entries a query wants: `recorded_at` in [since, until) and
 * top-level fields equal to given values. Times compare as instants (ms), so
 * "2026-01-06T08:00:00+01:00" and "2026-01-06T07:00:00Z" are the same time.
 */
export interface EntryFilter {
  /** Inclusive, ms since the epoch. */
  since?: number;
  /** Exclusive, ms since the epoch. */
  until?: number;
  where: Array<{ field: string; value: string }>;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** An ISO 8601 date or date-time from the command line; anything else is bad usage. */
export function parseTime(raw: string, flag: string): number {
  const ms = ISO_8601.test(raw.trim()) ? Date.parse(raw.trim().replace(',', '.')) : NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(`invalid ${flag} "${raw}": expected an ISO 8601 time such as 2026-01-06 or 2026-01-06T07:49:03Z`);
  }
  return ms;
}

export function parseWhere(raw: string): { field: string; value: string } {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new UsageError(`invalid --where "${raw}": expected FIELD=VALUE`);
  return { field: raw.slice(0, eq), value: raw.slice(eq + 1) };
}

export function hasWindow(f: EntryFilter): boolean {
  return f.since !== undefined || f.until !== undefined;
}

/**
 * A value equals the text the user typed when it is that string, or a number,
 * boolean or null written that way in JSON (`--where tfgrpo_epoch=3`).
 */
function equals(v: unknown, text: string): boolean {
  if (typeof v === 'string') return v === text;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return JSON.stringify(v) === text;
  return false;
}

export function matches(f: EntryFilter, entry: Record<string, unknown>): boolean {
  if (hasWindow(f)) {
    const at = entry['recorded_at'];
    const ms = timeOf(typeof at === 'string' ? at : null);
    if (ms === undefined) return false;
    if (f.since !== undefined && ms < f.since) return false;
    if (f.until !== undefined && ms >= f.until) return false;
  }
  for (const w of f.where) {
    if (!Object.hasOwn(entry, w.field) || !equals(entry[w.field], w.value)) return false;
  }
  return true;
}

/**
 * Whether the catalogue proves no line of a segment is in the window: its
 * min and max `recorded_at` (kept since they were added; older records lack
 * them and are always read) lie outside it, or it has no time at all.
 */
export function segmentOutside(f: EntryFilter, rec: SegmentRecord | undefined): boolean {
  if (!rec || !hasWindow(f) || rec.minRecordedAt === undefined || rec.maxRecordedAt === undefined) return false;
  if (rec.minRecordedAt === null || rec.maxRecordedAt === null) return true;
  const min = Date.parse(rec.minRecordedAt);
  const max = Date.parse(rec.maxRecordedAt);
  if (!Number.isFinite(min) || !Number.isFinite(max)) return false;
  return (f.since !== undefined && max < f.since) || (f.until !== undefined && min >= f.until);
}
