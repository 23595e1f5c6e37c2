import { lstat, open, readdir, readFile, truncate, unlink } from 'node:fs/promises';
import { closeSync, constants, fstatSync, ftruncateSync, fsyncSync, lstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { diskFullAs, ifExists, ifExistsSync, StoreError } from '../errors.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { isCompleteTail } from './entries.js';
import { ensureDir, fsyncDir, lastNewlineEnd, quarantine, sweepQuarantineTemps, writeAll } from './files.js';
import { fileSystem } from './fs-env.js';
import { describeHolder, lock, sweepLockLitter, type HeldLock } from './lock.js';
import { parseSegmentName, type Position, type StorePaths } from './names.js';
import { noteOldWriters } from './old-writers.js';
import { claimForMerge, listPending, readSpill, settleStaleTemps, spillLines, type MergingFile } from './pending.js';
import { openSnapshot, readFrom } from './reader.js';
import { ensureStoreFile, lastSealedSeq, loadIndex, type SegmentRecord } from './segment-index.js';
import { systemClock, type Clock } from './clock.js';
import { activeOpenedAt, noteActiveOpened } from './identity.js';
import { needsLineCount, needsOpenedAt, sealReason, type ActiveStats } from './rotation.js';
import { sealActive } from './seal.js';
import { refuseStoreSymlinks } from './symlinks.js';
import { settleFlatten } from './flatten-journal.js';

const FLUSH_BYTES = 1 << 20;

async function countNewlines(path: string): Promise<number> {
  const fh = await ifExists(() => open(path, 'r'));
  if (!fh) return 0;
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let count = 0;
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return count;
      const view = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      for (let i = view.indexOf(0x0a); i !== -1; i = view.indexOf(0x0a, i + 1)) count++;
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}


/**
 * Everything done under the writer lock: repair, merge, append, seal. One
 * session per lock hold; it never reads sealed segments on the append path and
 * scans at most the active file.
 */
export class WriterSession {
  readonly sealed: SegmentRecord[] = [];
  merged = 0;
  private stats: ActiveStats | undefined;
  private activeSeq: number | undefined;
  /** The active file, open for appending: synchronous calls, as a run appends a line or two. */
  private fd: number | undefined;

  constructor(
    readonly paths: StorePaths,
    readonly config: Config,
    readonly log: Logger,
    readonly clock: Clock = systemClock,
  ) {}

  /** Before any work of its own, a lock holder repairs and merges what others left. */
  async prepare(): Promise<void> {
    refuseStoreSymlinks(this.paths);
    mkdirSync(this.paths.segments, { recursive: true });
    await sweepLockLitter(this.paths.lock, this.log);
    await ensureStoreFile(this.paths, { log: this.log, fsync: this.config.fsync !== 'never' });
    await settleFlatten(this.paths, this.log);
    for (const t of sweepQuarantineTemps(this.paths.corrupt)) this.log.warn({ file: t }, 'removed the temp of an interrupted quarantine (its bytes were still in place)');
    await this.repairTornTail();
    await this.mergePending();
  }

  /** The active file's tail: a complete last object is ended with "\n", anything else quarantined. */
  async repairTornTail(): Promise<void> {
    const st = ifExistsSync(() => lstatSync(this.paths.active));
    if (!st || st.size === 0) return;
    const end = lastNewlineEnd(this.paths.active, st.size);
    if (end === st.size) return;
    const fh = await open(this.paths.active, 'r');
    let torn: Buffer;
    try {
      torn = Buffer.alloc(st.size - end);
      await fh.read(torn, 0, torn.length, end);
    } finally {
      await fh.close();
    }
    if (isCompleteTail(torn)) {
      // An entry whose newline was lost (older writers, or a crash between the two): keep it, as the orchestrator does.
      writeAll(this.openActive(), Buffer.from('\n'), 'active');
      await this.syncActive();
      this.log.info({ file: 'metrics.json', offset: end, bytes: torn.length }, 'ended a complete last entry with its missing newline');
      return;
    }
    const saved = await quarantine(this.paths.corrupt, this.paths.active, 'torn-tail', torn);
    await truncate(this.paths.active, end);
    this.log.warn({ file: 'metrics.json', offset: end, bytes: torn.length, savedTo: saved }, 'moved torn tail to metrics.corrupt/');
  }

  private async activeStats(): Promise<ActiveStats> {
    if (this.stats) return this.stats;
    const st = ifExistsSync(() => lstatSync(this.paths.active));
    const size = st?.size ?? 0;
    const lines = needsLineCount(this.config) && size > 0 ? await countNewlines(this.paths.active) : 0;
    const openedAtMs = needsOpenedAt(this.config) && size > 0 ? await this.openedAt() : undefined;
    this.stats = { size, lines, openedAtMs };
    return this.stats;
  }

  /**
   * The active segment began with its first entry, when metrics.json was
   * created: a quiet spell after a seal must not make a lone new entry look
   * old. store.json records that moment by the store's clock. An active file
   * it does not cover (written before store.json recorded it) falls back to
   * the file's creation time; where the file system keeps none, to when the
   * previous segment was sealed (its name says when), or before the first
   * seal, when metrics.segments/ was created.
   */
  private async openedAt(): Promise<number | undefined> {
    const recorded = activeOpenedAt(this.paths, (await lastSealedSeq(this.paths)) + 1);
    if (recorded !== undefined) return recorded;
    const active = await ifExists(() => lstat(this.paths.active));
    if (active && active.birthtimeMs > 0 && active.birthtimeMs <= active.mtimeMs) return active.birthtimeMs;
    const names = (await ifExists(() => readdir(this.paths.segments))) ?? [];
    let newest: { seq: number; at: number } | undefined;
    for (const n of names) {
      const p = parseSegmentName(n);
      if (p && (!newest || p.seq > newest.seq)) newest = { seq: p.seq, at: p.sealedAtMs };
    }
    if (newest) return newest.at;
    const st = await ifExists(() => lstat(this.paths.segments));
    return st ? Math.min(st.birthtimeMs || st.mtimeMs, st.mtimeMs) : undefined;
  }

  private async currentSeq(): Promise<number> {
    if (this.activeSeq === undefined) {
      const { index } = await loadIndex(this.paths, { log: this.log, persist: true, fsync: this.config.fsync !== 'never' });
      this.activeSeq = index.lastSeq + 1;
    }
    return this.activeSeq;
  }

  /** Append complete lines (no "\n" in them), sealing before any line that would overflow. */
  async appendLines(lines: readonly string[]): Promise<void> {
    let chunk: string[] = [];
    let chunkBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line) + 1;
      const reason = sealReason(this.config, await this.activeStats(), bytes, this.clock.now());
      if (reason) {
        await this.write(chunk);
        chunk = [];
        chunkBytes = 0;
        await this.seal(reason);
      }
      // Fetched after the seal: a seal replaces the stats with those of the new, empty file.
      const s = await this.activeStats();
      chunk.push(line);
      chunkBytes += bytes;
      s.lines++;
      s.size += bytes;
      if (chunkBytes >= FLUSH_BYTES) {
        await this.write(chunk);
        chunk = [];
        chunkBytes = 0;
      }
    }
    await this.write(chunk);
  }

  /** The active file for reading, never through a symlink (a flatten copies it whole). */
  openActiveForRead(): number {
    return openSync(this.paths.active, constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o666);
  }

  /** The active file, opened for appending once per session; a symlink in its place is never followed. */
  private openActive(): number {
    return (this.fd ??= fileSystem().open(this.paths.active, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o666, 'active'));
  }

  private async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const fs = fileSystem();
    const created = this.fd === undefined && !ifExistsSync(() => lstatSync(this.paths.active));
    const fd = this.openActive();
    const data = Buffer.from(`${lines.join('\n')}\n`);
    const before = fstatSync(fd).size;
    try {
      writeAll(fd, data, 'active');
    } catch (err) {
      // Not acknowledged: take back what landed, so nothing half written stays as a torn tail.
      this.stats = undefined;
      try {
        ftruncateSync(fd, before);
      } catch {
        // The next lock holder quarantines the torn tail.
      }
      throw diskFullAs(this.paths.active, err);
    }
    if (this.config.fsync === 'always') {
      fs.fsync(fd, 'active');
      if (created) fsyncDir(this.paths.root, 'active');
    }
    if (created) noteActiveOpened(this.paths, await this.currentSeq(), this.clock.now(), this.config.fsync !== 'never');
  }

  async seal(reason: string): Promise<SegmentRecord | undefined> {
    await this.closeFd();
    const rec = await sealActive(this.paths, this.config, this.log, reason, this.clock);
    if (rec) {
      this.sealed.push(rec);
      this.activeSeq = rec.seq + 1;
      this.stats = { size: 0, lines: 0, openedAtMs: this.clock.now() };
    }
    return rec;
  }

  /** Merge what others spilled, in name order; returns how many entries this call merged. */
  async mergePending(): Promise<number> {
    // Inside withMetricsLock the orchestrator's code appends to metrics.json itself: look again.
    this.stats = undefined;
    const before = this.merged;
    await this.mergeSpills();
    return this.merged - before;
  }

  private async mergeSpills(): Promise<void> {
    let listing = await listPending(this.paths);
    if (listing.temps.length > 0) {
      const settled = await settleStaleTemps(this.paths, listing.temps, this.config.lockStaleMs);
      for (const name of settled.promoted) this.log.warn({ file: name }, 'merging a spill whose writer died before renaming it (every line complete)');
      for (const to of settled.quarantined) this.log.warn({ savedTo: to }, 'moved a spill its writer never finished to metrics.corrupt/');
      if (settled.promoted.length > 0) listing = await listPending(this.paths);
    }
    if (listing.foreignSpills.length > 0) {
      noteOldWriters(this.paths.root, this.config, this.log, `spills named as the orchestrator's recorder names them (${listing.foreignSpills[0]})`);
    }
    for (const m of listing.merging) await this.resumeMerge(m);
    const claimed: string[] = [];
    let entries = 0;
    for (const name of listing.ready) {
      const text = await readSpill(join(this.paths.pending, name));
      if (text === undefined) continue;
      const lines = spillLines(text);
      const s = await this.activeStats();
      const at: Position = { seq: await this.currentSeq(), offset: s.size };
      claimed.push(await claimForMerge(this.paths, name, at));
      fileSystem().step('writer:merge-claimed');
      await this.appendLines(lines);
      entries += lines.length;
    }
    if (claimed.length === 0) return;
    // The spills were durable when acknowledged: their new home must be too before they go.
    await this.syncActive();
    fileSystem().step('writer:merge-appended');
    for (const c of claimed) fileSystem().unlink(join(this.paths.pending, c), 'merge');
    this.merged += entries;
    this.log.info({ files: claimed.length, entries }, 'merged pending entries');
  }

  /** fsync what this session appended to the active file (seals sync their own files). */
  private async syncActive(): Promise<void> {
    if (this.config.fsync !== 'never' && this.fd !== undefined) fileSystem().fsync(this.fd, 'active');
    await this.closeFd();
  }

  /** A merge that died half way: append only the lines not already at its position. */
  private async resumeMerge(m: MergingFile): Promise<void> {
    const path = join(this.paths.pending, m.file);
    const lines = spillLines((await readSpill(path)) ?? '');
    let present = 0;
    const snap = await openSnapshot(this.paths);
    try {
      await readFrom(this.paths, snap, { seq: m.at.seq, offset: m.at.offset, line: 0 }, (text) => {
        if (text.trim() !== '') present++;
      });
    } catch (err) {
      this.log.error({ file: m.file, err: (err as Error).message }, 'cannot find where an interrupted merge wrote; merging it whole');
      present = 0;
    } finally {
      await snap.close();
    }
    present = Math.min(present, lines.length);
    this.stats = undefined;
    await this.appendLines(lines.slice(present));
    await this.syncActive();
    fileSystem().unlink(path, 'merge');
    this.merged += lines.length - present;
    this.log.warn({ file: m.original, alreadyWritten: present, appended: lines.length - present }, 'resumed interrupted merge of pending entries');
  }

  private async closeFd(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }

  async end(): Promise<void> {
    await this.closeFd();
  }
}

export interface WriterLockOptions {
  /** How long to wait for a busy lock; undefined from withWriter means "spill or fail". */
  waitMs: number;
  clock?: Clock;
}

/**
 * Run `work` as the lock holder, after the holder's duties (torn tail, merges).
 * Returns undefined when the lock stayed busy for `waitMs`.
 */
export async function tryWithWriter<T>(
  paths: StorePaths,
  config: Config,
  log: Logger,
  opts: WriterLockOptions,
  work: (session: WriterSession) => Promise<T>,
): Promise<{ value: T; session: WriterSession } | undefined> {
  await ensureDir(paths.root);
  const held: HeldLock | undefined = await lock(paths.lock, {
    staleMs: config.lockStaleMs,
    log,
    waitMs: opts.waitMs,
    onForeign: (what) => noteOldWriters(paths.root, config, log, `the writer lock is held in a foreign format: ${what}`),
  });
  if (!held) return undefined;
  const session = new WriterSession(paths, config, log, opts.clock);
  try {
    await session.prepare();
    const value = await work(session);
    await session.end();
    return { value, session };
  } finally {
    await session.end().catch(() => undefined);
    await held.release();
  }
}

/** Like tryWithWriter, but a lock that stays busy is a failure. */
export async function withWriter<T>(
  paths: StorePaths,
  config: Config,
  log: Logger,
  opts: WriterLockOptions,
  work: (session: WriterSession) => Promise<T>,
): Promise<{ value: T; session: WriterSession }> {
  const done = await tryWithWriter(paths, config, log, opts, work);
  if (!done) throw await writerBusy(paths);
  return done;
}

export async function writerBusy(paths: StorePaths): Promise<StoreError> {
  return new StoreError(`writer lock ${paths.lock} is busy (held by ${await describeHolder(paths.lock)})`);
}
