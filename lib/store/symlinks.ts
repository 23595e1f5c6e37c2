import { lstatSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { errnoCode, ifExistsSync, StoreError } from '../errors.js';
import type { StorePaths } from './names.js';

/**
 * Nothing inside the metrics root is ever followed (contract "Symlinks"): a
 * link where the store expects a file or folder of its own is refused before
 * anything is read or written, so its target is never touched. The root
 * itself may be a link to a directory.
 */
function refused(path: string): StoreError {
  return new StoreError(`${path} is a symlink: the store never follows links inside its root, and has not touched its target (move the link away; --dir itself may be a link)`);
}

export function refuseSymlink(path: string): void {
  // ENOTDIR: a parent is a file, so nothing there is a link (the caller reports the file).
  let st;
  try {
    st = lstatSync(path, { throwIfNoEntry: false });
  } catch (err) {
    if (errnoCode(err) === 'ENOTDIR') return;
    throw err;
  }
  if (st?.isSymbolicLink()) throw refused(path);
}

/** The files and folders of the root's layout; metrics.lock is judged by the lock (a foreign lock). */
export function refuseStoreSymlinks(paths: StorePaths): void {
  for (const p of [paths.active, paths.pending, paths.segments, paths.index, paths.corrupt, paths.metrics]) refuseSymlink(p);
}

/** Every entry of a folder the store writes into whole (metrics/: outputs, checkpoints, indexes). */
export function refuseSymlinksIn(dir: string): void {
  for (const e of ifExistsSync(() => readdirSync(dir, { withFileTypes: true })) ?? []) {
    if (e.isSymbolicLink()) throw refused(join(dir, e.name));
  }
}

