import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { ifExistsSync } from '../errors.js';
import type { Logger } from '../log.js';
import { fsyncDir, readJson, unlinkIfExists, writeJsonAtomic } from './files.js';
import { FLATTEN_FILE, type StorePaths } from './names.js';
import { loadIndex, writeIndex } from './segment-index.js';

/**
 * A flatten writes every sealed segment and the active file into a temp file,
 * records in this journal what it is about to replace, renames the temp over
 * metrics.json, then deletes the segments. The rename is the commit point: a
 * process killed before it leaves the temp (undone: removed), after it the
 * segments (finished: deleted), so no line is ever lost or stored twice for
 * longer than it takes the next lock holder to look here.
 */
export interface FlattenJournal {
  version: 1;
  /** The temp file in metrics.segments/ that becomes metrics.json. */
  temp: string;
  /** Sealed segment files whose lines the temp holds. */
  segments: string[];
}

export function journalPath(paths: StorePaths): string {
  return join(paths.segments, FLATTEN_FILE);
}

export function writeJournal(paths: StorePaths, journal: FlattenJournal): void {
  writeJsonAtomic(journalPath(paths), journal, true);
}

/** Delete the flattened segments and drop them from the catalogue, then the journal. */
export async function finishFlatten(paths: StorePaths, journal: FlattenJournal, log: Logger): Promise<void> {
  for (const f of journal.segments) await unlinkIfExists(join(paths.segments, f), 'flatten');
  fsyncDir(paths.segments, 'flatten');
  const { index } = await loadIndex(paths, { log, persist: false, fsync: true });
  const gone = new Set(journal.segments);
  // lastSeq stays: sequence numbers never go back.
  writeIndex(paths, { ...index, segments: index.segments.filter((r) => !gone.has(r.file)) }, true);
  await unlinkIfExists(journalPath(paths), 'flatten');
}

/** Under the writer lock, before anything else: finish or undo a flatten a crash interrupted. */
export async function settleFlatten(paths: StorePaths, log: Logger): Promise<void> {
  if (!ifExistsSync(() => lstatSync(journalPath(paths)))) return;
  let journal: FlattenJournal;
  try {
    journal = (await readJson(journalPath(paths))) as FlattenJournal;
  } catch {
    // Written atomically, so unreadable means damaged: leave it for a person (verify shows the segments).
    log.error({ journal: journalPath(paths) }, 'flatten journal unreadable; not touching the segments it names');
    return;
  }
  if (ifExistsSync(() => lstatSync(join(paths.segments, journal.temp)))) {
    await unlinkIfExists(join(paths.segments, journal.temp), 'flatten');
    await unlinkIfExists(journalPath(paths), 'flatten');
    log.warn({ temp: journal.temp }, 'undid a flatten interrupted before metrics.json was replaced');
    return;
  }
  await finishFlatten(paths, journal, log);
  log.warn({ segments: journal.segments.length }, 'finished a flatten interrupted after metrics.json was replaced');
}
