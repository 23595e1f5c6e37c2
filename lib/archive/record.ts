import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ifExistsSync } from '../errors.js';
import { writeJsonAtomic } from '../store/files.js';
import { ARCHIVED_FILE, type StorePaths } from '../store/names.js';

/**
 * metrics.segments/archived.json: which segments (and their sha256) an
 * archive confirmed holding, per archive URL. Only a cache of look-ups: it is
 * written after the archive confirmed, never trusted to skip a comparison the
 * archive would refuse, and losing it costs one look-up per segment. Retention
 * reads it to know what is archived (a lost record keeps segments longer,
 * never deletes one too early).
 */
export interface ArchiveRecord {
  version: 1;
  archives: Record<string, { storeId: string; segments: Record<string, string> }>;
}

export function recordPath(paths: StorePaths): string {
  return join(paths.segments, ARCHIVED_FILE);
}

/** The record as stored; an absent or unreadable one is empty (it is a cache). */
export function readRecord(paths: StorePaths): ArchiveRecord {
  const empty: ArchiveRecord = { version: 1, archives: {} };
  const text = ifExistsSync(() => readFileSync(recordPath(paths), 'utf8'));
  if (text === undefined) return empty;
  try {
    const json = JSON.parse(text) as ArchiveRecord;
    if (json.version !== 1 || typeof json.archives !== 'object' || json.archives === null) return empty;
    return json;
  } catch {
    return empty;
  }
}

/** file -> sha256 of what this archive confirmed holding for this store. */
export function archivedIn(record: ArchiveRecord, url: string, storeId: string): Map<string, string> {
  const entry = record.archives[url];
  if (!entry || entry.storeId !== storeId || typeof entry.segments !== 'object') return new Map();
  return new Map(Object.entries(entry.segments).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Not fsynced: a record lost in a crash costs look-ups, never data. */
export function writeRecord(paths: StorePaths, url: string, storeId: string, segments: Map<string, string>): void {
  const record = readRecord(paths);
  record.archives[url] = { storeId, segments: Object.fromEntries(segments) };
  writeJsonAtomic(recordPath(paths), record, false);
}
