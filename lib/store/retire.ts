import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { ifExists } from '../errors.js';
import type { Logger } from '../log.js';
import { fsyncDir } from './files.js';
import { fileSystem } from './fs-env.js';
import { raiseSeqFloor } from './identity.js';
import type { SegmentName, StorePaths } from './names.js';
import { loadIndex, scanSegmentsDir, writeIndex } from './segment-index.js';

/** A sealed segment as retention plans with it: its name and its bytes on disk. */
export interface SealedFile extends SegmentName {
  storedBytes: number;
}

/** Sealed segments that are regular files, oldest first (symlinks and foreign files are never candidates). */
export async function sealedFiles(paths: StorePaths): Promise<SealedFile[]> {
  const out: SealedFile[] = [];
  for (const s of (await scanSegmentsDir(paths)).segments) {
    const st = await ifExists(() => lstat(join(paths.segments, s.file)));
    if (st?.isFile()) out.push({ ...s, storedBytes: st.size });
  }
  return out;
}

/**
 * Delete every sealed segment with seq <= `through` (caller holds the writer
 * lock, and has made sure they are no longer needed). The seq floor is
 * raised first, so no seq up to `through` is handed out again whatever files
 * are lost later. Only regular files named like segments go.
 */
export async function deleteSealedThrough(paths: StorePaths, config: Config, log: Logger, through: number): Promise<string[]> {
  const durable = config.fsync !== 'never';
  raiseSeqFloor(paths, through, durable);
  const dir = await scanSegmentsDir(paths);
  const gone: string[] = [];
  // A plain twin left by a crash mid-compression goes with its segment, else it would stand in for it.
  for (const s of [...dir.twins, ...dir.segments]) {
    if (s.seq > through) continue;
    const path = join(paths.segments, s.file);
    const st = await ifExists(() => lstat(path));
    if (!st?.isFile()) continue;
    fileSystem().unlink(path, 'retention');
    if (!dir.twins.includes(s)) gone.push(s.file);
    fileSystem().step('retention:mid-delete');
  }
  if (durable) fsyncDir(paths.segments, 'retention');
  // The directory is the truth: drop the deleted records, and rebuild an index that was lost.
  const { index } = await loadIndex(paths, { log, persist: false, fsync: false });
  writeIndex(paths, index, durable);
  return gone;
}
