import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { diskFullAs, errnoCode, ifExistsSync, StoreError } from '../errors.js';
import { fileSystem, type WriteSite } from './fs-env.js';

/**
 * Every byte of `data` at the file's position, through the file system seam:
 * a short write is continued, a write of nothing is an error (a file system
 * that accepts nothing will not accept more on a retry).
 */
export function writeAll(fd: number, data: Uint8Array, site: WriteSite): void {
  const fs = fileSystem();
  for (let done = 0; done < data.length; ) {
    const n = fs.write(fd, data, done, data.length - done, site);
    if (!(n > 0)) throw Object.assign(new Error(`write of ${data.length - done} bytes wrote nothing (${site})`), { code: 'EIO' });
    done += n;
  }
}

const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A new file for writing, never one already there, never through a symlink. */
export function createExclusive(path: string, site: WriteSite): number {
  return fileSystem().open(path, TEMP_FLAGS, 0o666, site);
}

/**
 * Create `path` holding `data`, all or nothing: on any failure (a full disk)
 * the partial file is removed. For files that appear by another name later
 * (the lock's candidate, linked into place).
 */
export function writeNewFile(path: string, data: Uint8Array, site: WriteSite): void {
  const fd = createExclusive(path, site);
  try {
    try {
      writeAll(fd, data, site);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    ifExistsSync(() => fileSystem().unlink(path, site));
    throw diskFullAs(path, err);
  }
}

let tempCounter = 0;

/** ".<name>.<pid>.<n>.tmp" beside the file it will replace: the store's own temp, by name. */
export const isAtomicTempName = (name: string): boolean => /^\..+\.\d+\.\d+\.tmp$/.test(name);

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${++tempCounter}.tmp`);
}

export interface AtomicWriteOptions {
  /** fsync the file before the rename (its bytes are durable once the name is). */
  fsync: boolean;
  /** fsync the directory after the rename too: the new name itself is durable when this returns. */
  fsyncDir?: boolean;
  site?: WriteSite;
}

/**
 * Replace `path` with `data`: a temp file in the same directory (exclusive
 * create, never through a symlink), every byte written, fsync per policy,
 * rename, directory fsync per policy. On any failure the temp is removed and
 * the old file is untouched; a full disk is a DiskFullError.
 */
export function writeFileAtomic(path: string, data: Uint8Array, opts: AtomicWriteOptions): void {
  const fs = fileSystem();
  const site = opts.site ?? 'json';
  const tmp = tempPathFor(path);
  let fd: number;
  try {
    fd = createExclusive(tmp, site);
  } catch (err) {
    // The directory is there on every run but the first: make it only when missing.
    if (errnoCode(err) !== 'ENOENT') throw diskFullAs(path, err);
    mkdirSync(dirname(path), { recursive: true });
    try {
      fd = createExclusive(tmp, site);
    } catch (again) {
      throw diskFullAs(path, again);
    }
  }
  try {
    try {
      writeAll(fd, data, site);
      if (opts.fsync) fs.fsync(fd, site);
    } finally {
      closeSync(fd);
    }
    fs.rename(tmp, path, site);
  } catch (err) {
    try {
      fs.unlink(tmp, site);
    } catch {
      // Already gone, or the disk refuses even that: a stale temp verify reports, never a damaged file.
    }
    throw diskFullAs(path, err);
  }
  if (opts.fsyncDir) fsyncDir(dirname(path), site);
}

/** Every JSON file the project writes goes through here: readers see old or new, never half. */
export function writeJsonAtomic(path: string, value: unknown, fsync: boolean, opts: { fsyncDir?: boolean } = {}): void {
  writeFileAtomic(path, Buffer.from(`${JSON.stringify(value, null, 2)}\n`), { fsync, ...opts });
}

/** writeJsonAtomic for text that is not JSON (the HTML report). */
export function writeTextAtomic(path: string, text: string, fsync: boolean): void {
  writeFileAtomic(path, Buffer.from(text), { fsync });
}

/**
 * How a checksummed JSON file ends: its last member is "sha256", the hash of
 * the file as it would be without that member. A reader that does not know
 * the rule sees one more field.
 */
const CHECKSUM_TAIL = /,\n {2}"sha256": "([0-9a-f]{64})"\n\}\n$/;

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** `value` (an object with other members) as JSON with its own checksum. */
export function checksummedJson(value: object): string {
  const body = JSON.stringify(value, null, 2);
  return `${body.slice(0, -2)},\n  "sha256": "${sha256Hex(`${body}\n`)}"\n}\n`;
}

/** The checksummed file's value (without "sha256"), or why it is damaged. Files from before checksums pass as they parse. */
export function parseChecksummedJson(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || !('sha256' in value)) return { ok: true, value };
  const m = CHECKSUM_TAIL.exec(text);
  if (!m || sha256Hex(`${text.slice(0, m.index)}\n}\n`) !== m[1]) return { ok: false, reason: 'checksum mismatch (the file was changed or damaged after it was written)' };
  const { sha256: _sum, ...rest } = value as Record<string, unknown>;
  return { ok: true, value: rest };
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

/**
 * A checksummed JSON file (see checksummedJson): undefined when absent,
 * else its value or why it is damaged.
 */
export function readChecksummedJson(path: string): { ok: true; value: unknown } | { ok: false; reason: string } | undefined {
  const text = ifExistsSync(() => readFileSync(path, 'utf8'));
  return text === undefined ? undefined : parseChecksummedJson(text);
}

/** fsync a file by name (its writer may have closed it already). */
export function fsyncFile(path: string, site: WriteSite): void {
  const fd = openSync(path, 'r');
  try {
    fileSystem().fsync(fd, site);
  } finally {
    closeSync(fd);
  }
}

/** A rename or create is durable only once its directory entry is. */
export function fsyncDir(dir: string, site: WriteSite): void {
  const fd = openSync(dir, 'r');
  try {
    fileSystem().fsync(fd, site);
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

export async function unlinkIfExists(path: string, site: WriteSite): Promise<boolean> {
  const removed = ifExistsSync(() => {
    fileSystem().unlink(path, site);
    return true;
  });
  return removed === true;
}

/**
 * Move bytes we cannot use into metrics.corrupt/ under a name that says where
 * they came from; never drop them. Callers remove the bytes from where they
 * were only after this returns, so a crash here leaves at most a temp that
 * repeats them (sweepQuarantineTemps removes it).
 */
export async function quarantine(corruptDir: string, fromFile: string, what: string, bytes: Buffer): Promise<string> {
  await mkdir(corruptDir, { recursive: true });
  const target = join(corruptDir, `${basename(fromFile)}.${what}.${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  writeFileAtomic(target, bytes, { fsync: true, fsyncDir: true, site: 'quarantine' });
  return target;
}

/**
 * Temps in metrics.corrupt/ are left only by a quarantine that died before
 * its rename, and their bytes are still where they came from. Every
 * quarantine runs under the writer lock, so its holder may remove them all.
 */
export function sweepQuarantineTemps(corruptDir: string): string[] {
  const names = ifExistsSync(() => readdirSync(corruptDir, { withFileTypes: true })) ?? [];
  const removed: string[] = [];
  for (const e of names) {
    if (!e.isFile() || !/^\..+\.tmp$/.test(e.name)) continue;
    if (ifExistsSync(() => fileSystem().unlink(join(corruptDir, e.name), 'quarantine')) !== undefined) removed.push(e.name);
  }
  return removed;
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
