import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, ifExistsSync, StoreError } from '../errors.js';
import { lastNewlineEndOf } from './files.js';
import { scanLines } from './lines.js';
import { ACTIVE_FILE, type SegmentName, type StorePaths } from './names.js';
import { indexLastSeq, sealedView } from './segment-index.js';
import { refuseSymlink } from './symlinks.js';
import { isCompleteTail } from './entries.js';

/**
 * A cursor is (seq, byte offset) plus how many lines precede the offset in
 * that file (for file:line reports). Sealing is a rename, so a cursor into
 * the active file stays valid in the segment it becomes.
 */
export interface Cursor {
  seq: number;
  offset: number;
  line: number;
}

export interface LineAt {
  seq: number;
  /** Content offset of the first byte of the line. */
  offset: number;
  /** 1-based line number within its file. */
  line: number;
  file: string;
}

export type OnLineAt = (text: string, at: LineAt) => void;

/**
 * What one read sees: the sealed segments and the active file as of one
 * moment, without the writer lock. The active file is held open, so a seal
 * that happens while we read does not move the bytes we were promised.
 */
export interface Snapshot {
  /** Sealed segments in seq order: every one, or (see `sealedFrom`) those from a seq on. */
  sealed: SegmentName[];
  /** `sealed` lists no segment below this seq (1: it lists them all). */
  sealedFrom: number;
  activeSeq: number;
  /** The active file's descriptor, held open for the pass (undefined: no active file). */
  active: number | undefined;
  /** The active file's identity (device and inode), for a later snapshot's `since`. */
  activeId: string | undefined;
  /** End of the last complete line of the active file. */
  activeEnd: number;
  /** Size of the active file: bytes past activeEnd are its tail (see completeTail). */
  activeSize: number;
  close(): Promise<void>;
}

/** The active file as an earlier snapshot saw it. */
export interface ActiveFile {
  seq: number;
  id: string;
}

/**
 * device:inode:birth time. The birth time tells a reused inode from the file
 * that had it: a gzip seal deletes the renamed segment once its .gz is
 * written, and the next metrics.json may be given that same inode.
 */
function fileId(fd: number): string {
  const st = fstatSync(fd, { bigint: true });
  return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
}

/**
 * A snapshot of the store. With `since` (the active file as an earlier
 * snapshot saw it): when the active file is still that file (same inode and
 * birth time) and index.json's last seq is below it, nothing was sealed
 * since, so its seq is known and the segments folder is not
 * listed: a pass from there reads no sealed segment, and its cost does not
 * grow with how many there are. The caller must know that retention has
 * not deleted segment `since.seq`.
 */
export async function openSnapshot(paths: StorePaths, since?: ActiveFile): Promise<Snapshot> {
  for (let attempt = 0; ; attempt++) {
    // Synchronous open, stat and last-newline scan: small calls on every run,
    // where a thread-pool trip costs more than the call.
    let fd: number | undefined;
    try {
      fd = openSync(paths.active, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if (errnoCode(err) === 'ELOOP') refuseSymlink(paths.active);
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    try {
      const id = fd !== undefined ? fileId(fd) : undefined;
      // And nothing sealed since by index.json's head (256 bytes): where birth times are not
      // kept, a reused inode would otherwise pass for the checkpoint's file.
      const unsealed = since !== undefined && id === since.id && ((await indexLastSeq(paths)) ?? 0) < since.seq;
      const view = unsealed ? undefined : await sealedView(paths);
      // A seal between the open and the listing renamed our file into the
      // listing: it is the newest sealed segment then, not the active file.
      if (unsealed || fd === undefined || isStillAt(paths.active, fd) || attempt >= 20) {
        const size = fd !== undefined ? fstatSync(fd).size : 0;
        const activeEnd = fd !== undefined ? lastNewlineEndOf(fd, size) : 0;
        const active = fd;
        fd = undefined;
        return {
          sealed: view?.dir.segments ?? [],
          sealedFrom: view ? 1 : since!.seq,
          activeSeq: view ? view.lastSeq + 1 : since!.seq,
          active,
          activeId: id,
          activeEnd,
          activeSize: size,
          close: async () => {
            if (active !== undefined) closeSync(active);
          },
        };
      }
    } finally {
      // Not handed over (sealed under us, or a throw): close it and look again.
      if (fd !== undefined) closeSync(fd);
    }
  }
}

/** Whether `path` still names the file open as `fd`. */
function isStillAt(path: string, fd: number): boolean {
  const there = ifExistsSync(() => lstatSync(path));
  const open = fstatSync(fd);
  return there !== undefined && there.ino === open.ino && there.dev === open.dev;
}

const SAMPLE_BYTES = 64 << 10;

/**
 * Average bytes per line in up to 64 KiB of plain content at `from` (undefined
 * when that content is compressed, absent or holds no whole line): lets a long
 * pass size its tables for the lines ahead once instead of growing them.
 */
export function sampleLineBytes(paths: StorePaths, snap: Snapshot, from: Cursor): number | undefined {
  const sealed = snap.sealed.find((s) => s.seq >= from.seq);
  const at = (sealed?.seq ?? snap.activeSeq) === from.seq ? from.offset : 0;
  let fd: number | undefined;
  let owned = false;
  if (!sealed) {
    fd = snap.active;
  } else if (!sealed.compressed) {
    const opened = ifExistsSync(() => openSegment(paths, sealed));
    if (opened?.compressed) closeSync(opened.fd);
    else if (opened) [fd, owned] = [opened.fd, true];
  }
  if (fd === undefined) return undefined;
  try {
    const buf = Buffer.allocUnsafe(SAMPLE_BYTES);
    const sample = buf.subarray(0, readSync(fd, buf, 0, SAMPLE_BYTES, at));
    const last = sample.lastIndexOf(0x0a);
    if (last < 0) return undefined;
    let lines = 0;
    for (let i = sample.indexOf(0x0a); i !== -1; i = sample.indexOf(0x0a, i + 1)) lines++;
    return (last + 1) / lines;
  } finally {
    if (owned) closeSync(fd);
  }
}

/** Line size to assume where none can be sampled (compressed segments): small, so a pass leans to reading in bulk. */
const ASSUMED_LINE_BYTES = 256;

/**
 * About how much a pass from `from` (through segment `untilSeq`) will read:
 * content bytes (a compressed segment counts as five times its size) and
 * lines (bytes over a sample of the lines at the cursor).
 */
export function measureAhead(paths: StorePaths, snap: Snapshot, from: Cursor, untilSeq = Infinity): { bytes: number; lines: number } {
  let bytes = 0;
  for (const s of snap.sealed) {
    if (s.seq < from.seq || s.seq > untilSeq) continue;
    const size = (ifExistsSync(() => lstatSync(join(paths.segments, s.file)))?.size ?? 0) * (s.compressed ? 5 : 1);
    // The segment under the cursor (just sealed, usually) is mostly read already.
    bytes += Math.max(0, size - (s.seq === from.seq ? from.offset : 0));
  }
  if (snap.activeSeq <= untilSeq) bytes += snap.activeEnd - (from.seq === snap.activeSeq ? from.offset : 0);
  if (bytes <= 0) return { bytes: 0, lines: 0 };
  return { bytes, lines: bytes / (sampleLineBytes(paths, snap, from) ?? ASSUMED_LINE_BYTES) };
}

/**
 * Open a sealed segment of a snapshot for reading (never through a symlink).
 * Compression renames the .gz into place before it removes the plain file,
 * so a plain segment that vanished after the snapshot listed it is read from
 * its .gz twin: same content, same offsets.
 */
export function openSegment(paths: StorePaths, s: SegmentName): { fd: number; file: string; compressed: boolean } {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW;
  try {
    return { fd: openSync(join(paths.segments, s.file), flags), file: s.file, compressed: s.compressed };
  } catch (err) {
    if (s.compressed || errnoCode(err) !== 'ENOENT') throw err;
    const gz = `${s.file}.gz`;
    return { fd: openSync(join(paths.segments, gz), flags), file: gz, compressed: true };
  }
}

/**
 * A sealed segment kept elsewhere (an archive), read before the local ones:
 * retention deleted it here. `fetch` hands over a local copy checked against
 * its sha256, removed by `release`.
 */
export interface ExternalSegment {
  seq: number;
  file: string;
  compressed: boolean;
  fetch(): Promise<{ path: string; release(): Promise<void> }>;
}

export interface ReadOptions {
  /** Called before each file is read: progress reports. */
  onFile?: (file: string, index: number, total: number) => void;
  /** Stop after this seq (inclusive); the active file is read only when it is within bounds. */
  untilSeq?: number;
  /** Segments deleted here, read from elsewhere in seq order before the local ones. */
  external?: readonly ExternalSegment[];
}

/**
 * Every complete line after `from`, in order: sealed segments by seq, then
 * the active file up to its last complete line. Returns the cursor after the
 * last line read.
 */
export async function readFrom(
  paths: StorePaths,
  snap: Snapshot,
  from: Cursor,
  onLine: OnLineAt,
  opts: ReadOptions = {},
): Promise<Cursor> {
  const until = opts.untilSeq ?? Infinity;
  if (from.seq < snap.sealedFrom) throw new StoreError(`cursor seq ${from.seq} is before what this snapshot lists (from seq ${snap.sealedFrom})`);
  if (from.seq > snap.activeSeq) {
    throw new StoreError(`cursor seq ${from.seq} is past the active segment ${snap.activeSeq}`);
  }
  const files: Array<{ seq: number; file: string; compressed: boolean; path: string; fd?: number; end?: number; sealed?: SegmentName; external?: ExternalSegment }> = [];
  for (const e of opts.external ?? []) {
    if (e.seq < from.seq || e.seq > until) continue;
    files.push({ seq: e.seq, file: e.file, compressed: e.compressed, path: '', external: e });
  }
  for (const s of snap.sealed) {
    if (s.seq < from.seq || s.seq > until) continue;
    files.push({ seq: s.seq, file: s.file, compressed: s.compressed, path: join(paths.segments, s.file), sealed: s });
  }
  if (from.seq < snap.activeSeq && from.offset > 0 && files[0]?.seq !== from.seq) {
    throw new StoreError(`segment ${from.seq} under the cursor is missing`);
  }
  if (snap.activeSeq <= until) {
    files.push({
      seq: snap.activeSeq,
      file: ACTIVE_FILE,
      compressed: false,
      path: paths.active,
      ...(snap.active !== undefined ? { fd: snap.active } : {}),
      end: snap.activeEnd,
    });
  }
  let cursor = from;
  for (const [i, f] of files.entries()) {
    opts.onFile?.(f.file, i, files.length);
    const start = f.seq === from.seq ? from : { seq: f.seq, offset: 0, line: 0 };
    if (f.seq === snap.activeSeq && f.fd === undefined) {
      cursor = start;
      continue;
    }
    const fetched = f.external ? await f.external.fetch() : undefined;
    const opened = f.sealed ? openSegment(paths, f.sealed) : undefined;
    let line = start.line;
    const at: LineAt = { seq: f.seq, offset: 0, line: 0, file: opened?.file ?? f.file };
    try {
      const fd = opened?.fd ?? f.fd;
      const scan = await scanLines(
        {
          path: fetched?.path ?? f.path,
          compressed: opened?.compressed ?? f.compressed,
          start: start.offset,
          ...(fd !== undefined ? { fd } : {}),
          ...(f.end !== undefined ? { end: f.end } : {}),
        },
        (text, offset) => {
          at.offset = offset;
          at.line = ++line;
          onLine(text, at);
        },
      );
      cursor = { seq: f.seq, offset: scan.end, line };
    } catch (err) {
      // "unexpected end of file" alone does not tell a user which file to look at.
      if (errnoCode(err) === undefined) throw err;
      throw new StoreError(`cannot read ${at.file}: ${(err as Error).message} (try codex-metrics verify)`);
    } finally {
      if (opened) closeSync(opened.fd);
      await fetched?.release();
    }
  }
  return cursor;
}

/** Longest unterminated last entry that is looked at; anything longer is left to the next writer. */
const MAX_TAIL_BYTES = 16 << 20;

/**
 * The active file's bytes after its last newline, when they are one complete
 * JSON object: an entry whose newline was lost, which counts (contract "Torn
 * tail"). Anything else there is a line still being written, or crash residue.
 */
export function completeTail(snap: Snapshot): string | undefined {
  const n = snap.activeSize - snap.activeEnd;
  if (snap.active === undefined || n <= 0 || n > MAX_TAIL_BYTES) return undefined;
  const buf = Buffer.allocUnsafe(n);
  const got = readSync(snap.active, buf, 0, n, snap.activeEnd);
  const bytes = buf.subarray(0, got);
  return isCompleteTail(bytes) ? bytes.toString('utf8') : undefined;
}
