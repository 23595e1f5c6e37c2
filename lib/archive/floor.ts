import type { Config } from '../config.js';
import type { StorePaths } from '../store/names.js';
import { knownStoreId } from '../store/store.js';
import type { Floor } from '../retention/plan.js';
import { archivedIn, readRecord } from './record.js';

/**
 * Retention's floor for the configured archive: every segment up to the
 * first one the local record does not hold is archived and may go. It only
 * caps (retention never archives): a lost record keeps segments until the
 * next `archive` run finds them there, never deletes one too early.
 */
export async function archiveFloor(paths: StorePaths, config: Config, segments: readonly { seq: number; file: string }[]): Promise<Floor | undefined> {
  if (!config.archive) return undefined;
  const storeId = await knownStoreId(paths);
  const held = storeId === undefined ? new Map<string, string>() : archivedIn(readRecord(paths), config.archive.url, storeId);
  let seq = 0;
  for (const s of segments) {
    if (!held.has(s.file)) break;
    seq = s.seq;
  }
  return { name: `archive ${config.archive.url}`, seq, advances: false };
}
