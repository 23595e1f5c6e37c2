import { open, mkdir, rename, unlink } from 'node:fs/promises';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import writeFileAtomic from 'write-file-atomic';
import { errnoCode, ifExists, ifExistsSync, StoreError } from '../errors.js';

/**
 * Every JSON file the project writes goes through here: readers see old or new,
 * never half. Synchronous: these files are small and written on every run, and
 * write-file-atomic's async path costs ~9 thread-pool round trips per file
 * (realpath, stat, open, write, fsync, close, chown, chmod, rename), which was
 * most of a run's wall time.
 */
export function writeJsonAtomic(path: string, value: unknown, fsync: boolean): void {
  writeTextAtomic(path, `${JSON.stringify(value, null, 2)}\n`, fsync);
}

/** writeJsonAtomic for text that is not JSON (the HTML report). */
export function writeTextAtomic(path: string, text: string, fsync: boolean): void {
  try {
    writeFileAtomic.sync(path, text, { fsync });
  } catch (err) {
    // The directory is there on every run but the first: make it only when missing.
    if (errnoCode(err) !== 'ENOENT') throw err;
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic.sync(path, text, { fsync });
  }
}

// The same module instance write-file-atomic require()s: signal-exit's ESM build would be a second one.
const { onExit } = createRequire(import.meta.url)('signal-exit') as typeof import('signal-exit');

/**
 * Run `writes` (several writeJsonAtomic calls) with one exit handler held.
 * write-file-atomic registers a signal-exit handler for each write, and when
 * it is the only one, signal-exit installs and then removes its listeners on a
 * dozen signals: ~0.1 ms per file, an eighth of a run. Held, that happens once.
 */
export function batchWrites<T>(writes: () => T): T {
  const release = onExit(() => undefined);
  try {
    return writes();
  } finally {
    release();
  }
}

/**
 * Parsed JSON, undefined when the file is absent; throws when present but unreadable.
 * Read with one sync call: these are small metadata files (index, checkpoint, base)
 * read on every run, where a thread-pool trip costs more than the read.
 */
export async function readJson(path: string): Promise<unknown> {
  const text = ifExistsSync(() => readFileSync(path, 'utf8'));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StoreError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** fsync a file by name (its writer may have closed it already). */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A rename or create is durable only once its directory entry is. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch (err) {
    // Some file systems refuse fsync on directories; the data fsync still happened.
    if (errnoCode(err) !== 'EINVAL' && errnoCode(err) !== 'EISDIR') throw err;
  } finally {
    closeSync(fd);
  }
}

/** Make sure `dir` can hold the store: absent is fine (created), a file is not. */
export async function ensureDir(dir: string): Promise<void> {
  // stat: a root that is a symlink to a directory is a directory.
  const st = ifExistsSync(() => statSync(dir));
  if (st && !st.isDirectory()) throw new StoreError(`${dir} exists and is not a directory`);
  if (!st) mkdirSync(dir, { recursive: true });
}

export async function unlinkIfExists(path: string): Promise<boolean> {
  const removed = await ifExists(async () => {
    await unlink(path);
    return true;
  });
  return removed === true;
}

/**
 * Move bytes we cannot use into metrics.corrupt/ under a name that says where
 * they came from; never drop them.
 */
export async function quarantine(corruptDir: string, fromFile: string, what: string, bytes: Buffer): Promise<string> {
  await mkdir(corruptDir, { recursive: true });
  const name = `${basename(fromFile)}.${what}.${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = join(corruptDir, `.${name}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const target = join(corruptDir, name);
  await rename(tmp, target);
  fsyncDir(corruptDir);
  return target;
}

/**
 * Offset just past the last "\n" at or before `size` (0 when there is none).
 * Synchronous: it usually reads one small block, on every run.
 */
export function lastNewlineEnd(path: string, size: number): number {
  if (size === 0) return 0;
  const fd = openSync(path, 'r');
  try {
    return lastNewlineEndOf(fd, size);
  } finally {
    closeSync(fd);
  }
}

export function lastNewlineEndOf(fd: number, size: number): number {
  const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, size));
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const bytesRead = readSync(fd, chunk, 0, end - start, start);
    const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (at >= 0) return start + at + 1;
    end = start;
  }
  return 0;
}
