import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { errnoCode, ifExists, StoreError } from '../errors.js';
import { fsyncDir, fsyncFile, isAtomicTempName, writeFileAtomic } from '../store/files.js';
import { hashFile, openNoFollow } from './bytes.js';
import { ArchiveConflictError, type ArchiveTarget, type SegmentSource } from './target.js';

/** A temp file this old is left by an archiver that died: removed on the next run. */
const STALE_TEMP_MS = 3600_000;
const TEMP_RE = /^\..+\.[0-9a-f-]{36}\.tmp$/;
/** A segment copy's temp (uuid) or an atomic write's (see writeFileAtomic). */
const isTempName = (name: string) => TEMP_RE.test(name) || isAtomicTempName(name);

/**
 * A directory archive (a second disk, an NFS mount). A segment is written to
 * a temp file, fsynced, then hard-linked to its name: link never replaces, so
 * of two archivers racing only one creates it and the other compares.
 */
export class DirTarget implements ArchiveTarget {
  private readonly swept = new Set<string>();

  constructor(
    private readonly root: string,
    readonly url: string,
  ) {}

  private async storeDir(storeId: string): Promise<string> {
    const dir = join(this.root, storeId);
    await mkdir(dir, { recursive: true });
    if (!this.swept.has(dir)) {
      this.swept.add(dir);
      await this.sweepTemps(dir);
    }
    return dir;
  }

  private async sweepTemps(dir: string): Promise<void> {
    for (const name of (await ifExists(() => readdir(dir))) ?? []) {
      if (!isTempName(name)) continue;
      const st = await ifExists(() => lstat(join(dir, name)));
      if (st?.isFile() && Date.now() - st.mtimeMs > STALE_TEMP_MS) await ifExists(() => unlink(join(dir, name)));
    }
  }

  private async compare(storeId: string, seg: SegmentSource, dest: string): Promise<'already'> {
    const there = await hashFile(dest);
    if (!there) throw new StoreError(`archive: ${dest} vanished while being compared`);
    if (there.sha256 !== seg.sha256) throw new ArchiveConflictError(this.url, storeId, seg.file, seg.sha256, there.sha256);
    return 'already';
  }

  async putSegment(storeId: string, seg: SegmentSource): Promise<'created' | 'already'> {
    const dir = await this.storeDir(storeId);
    const dest = join(dir, seg.file);
    if (await ifExists(() => lstat(dest))) return this.compare(storeId, seg, dest);
    const tmp = join(dir, `.${seg.file}.${randomUUID()}.tmp`);
    try {
      // The kernel copies (copy_file_range); the copy is then hashed from the page
      // cache: what is checked is what was written, at a fraction of a user-space copy.
      await copyFile(seg.path, tmp, constants.COPYFILE_EXCL);
      const copied = (await hashFile(tmp))!;
      fsyncFile(tmp, 'archive');
      if (copied.sha256 !== seg.sha256) {
        throw new StoreError(`archive: ${seg.file} does not match its sha256 in the catalogue (${copied.sha256} != ${seg.sha256}); run \`codex-metrics verify\``);
      }
      try {
        await link(tmp, dest);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') return await this.compare(storeId, seg, dest);
        throw err;
      }
      fsyncDir(dir, 'archive');
      return 'created';
    } finally {
      await ifExists(() => unlink(tmp));
    }
  }

  async sha256Of(storeId: string, name: string): Promise<string | undefined> {
    return (await hashFile(join(this.root, storeId, name)))?.sha256;
  }

  async open(storeId: string, name: string): Promise<Readable | undefined> {
    const fh = await openNoFollow(join(this.root, storeId, name));
    return fh?.createReadStream();
  }

  async putSmall(storeId: string, name: string, bytes: Buffer): Promise<void> {
    const dir = await this.storeDir(storeId);
    writeFileAtomic(join(dir, name), bytes, { fsync: true, fsyncDir: true, site: 'archive' });
  }
}
