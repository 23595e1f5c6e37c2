import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync, mkdirSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { comparePositions, type Position } from '../store/names.js';

/**
 * Every counted run_id with the position of its first line, on disk, so a
 * duplicate check costs the same at any history size. Ids hash into 256
 * append-only bucket files; a lookup reads one bucket. A record is
 * "\n<seq>\t<offset>\t<JSON id>\n": the leading newline keeps a record whole
 * even after a torn one left by a crash. Because each id carries its position, the index stays right on
 * any replay: a line is a duplicate only if its id is known at an earlier
 * position.
 *
 * Why 256 buckets: a rebuild touches every bucket, and creating and fsyncing
 * a file costs ~0.35 ms here, so 4096 buckets cost a rebuild ~1.4 s whatever
 * its size; 256 cost ~90 ms, while a lookup at 1M ids reads ~110 KB (~50 us).
 *
 * A long pass (a rebuild) would read a bucket per line; instead it keeps a
 * table of 32-bit fingerprints of every id in memory (4 bytes per id at half
 * load) and reads a bucket only on a fingerprint hit.
 */
const BUCKET_BITS = 8;
const BUCKETS = 1 << BUCKET_BITS;
/** Buffered record bytes per bucket (~400 records): 4 MiB for all 256 at most. */
const PENDING_BYTES = 16 << 10;
const BUCKET_FILES = Array.from({ length: BUCKETS }, (_, b) => `${b.toString(16).padStart(2, '0')}.idx`);
const BUCKET_RE = /^[0-9a-f]{2}\.idx$/;

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function bucketOf(h: number): number {
  return h >>> (32 - BUCKET_BITS);
}

/** Open-addressing set of non-zero 32-bit fingerprints. */
class FingerprintSet {
  private table = new Uint32Array(1 << 16);
  private size = 0;
  // A pass asks has(fp) and then add(fp) for each new id: the empty slot the
  // miss ended on is where add puts it, so the table (8 MB at 1M ids, a cache
  // miss per probe) is probed once per id instead of twice.
  private missFp = 0;
  private missSlot = -1;

  add(fp: number): void {
    if ((this.size + 1) * 2 > this.table.length) this.grow();
    const slot = this.missSlot;
    this.missSlot = -1;
    // Slots before it on fp's probe path were taken at has() time and are never emptied.
    if (slot >= 0 && this.missFp === fp && this.table[slot] === 0) {
      this.table[slot] = fp;
      this.size++;
      return;
    }
    if (this.insert(this.table, fp)) this.size++;
  }

  has(fp: number): boolean {
    const t = this.table;
    const mask = t.length - 1;
    for (let i = Math.imul(fp, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const v = t[i]!;
      if (v === 0) {
        this.missFp = fp;
        this.missSlot = i;
        return false;
      }
      if (v === fp) return true;
    }
  }

  private insert(t: Uint32Array, fp: number): boolean {
    const mask = t.length - 1;
    for (let i = Math.imul(fp, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const v = t[i]!;
      if (v === fp) return false;
      if (v === 0) {
        t[i] = fp;
        return true;
      }
    }
  }

  private grow(): void {
    const next = new Uint32Array(this.table.length * 2);
    for (const v of this.table) if (v !== 0) this.insert(next, v);
    this.table = next;
    this.missSlot = -1;
  }
}

function readBucket(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return '';
    throw err;
  }
}

/** Names in `dir`, or none when it does not exist (or is not a directory). */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** The earliest position recorded for `needle` ("\t<JSON id>\n") in one bucket's text. */
function findIn(text: string, needle: string): Position | undefined {
  let best: Position | undefined;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
    const lineStart = text.lastIndexOf('\n', at - 1) + 1;
    const [seq, offset] = text.slice(lineStart, at).split('\t');
    const pos = { seq: Number(seq), offset: Number(offset) };
    if (!Number.isSafeInteger(pos.seq) || !Number.isSafeInteger(pos.offset)) continue;
    if (!best || comparePositions(pos, best) < 0) best = pos;
  }
  return best;
}

/** Each complete record of a bucket's text as (JSON id, the record's line). */
function forEachRecord(text: string, f: (jsonId: string, line: string) => void): void {
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    if (end === -1) break;
    const line = text.slice(start, end);
    start = end + 1;
    const tab = line.indexOf('\t', line.indexOf('\t') + 1);
    if (tab !== -1) f(line.slice(tab + 1), line);
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function recordOf(id: string, pos: Position): string {
  return `\n${pos.seq}\t${pos.offset}\t${JSON.stringify(id)}\n`;
}

/** A number String() writes as plain decimal digits (at most 16). */
function isIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function writeDigits(buf: Buffer, p: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let i = p + digits - 1;
  let x = n;
  // Integer division is much cheaper while the value fits 31 bits.
  for (; x > 0x7fffffff; i--, x = Math.floor(x / 10)) buf[i] = 0x30 + (x % 10);
  for (; i >= p; i--, x = (x / 10) | 0) buf[i] = 0x30 + (x % 10);
  return p + digits;
}

/**
 * Records waiting for their bucket file, as bytes: a rebuild buffers
 * thousands of them, and as strings they lived long enough to be promoted
 * and cost major GCs.
 */
class PendingBucket {
  private buf: Buffer | undefined;
  private used = 0;

  get empty(): boolean {
    return this.used === 0;
  }

  text(): string {
    return this.buf ? this.buf.toString('utf8', 0, this.used) : '';
  }

  /**
   * Append the record of `id` at `pos`; false when it does not fit (write
   * out first). Plain ids (printable ASCII without '"' or '\\': nothing
   * JSON.stringify escapes) are written byte by byte: the same bytes as the
   * template string, without building it.
   */
  tryAdd(id: string, pos: Position): boolean {
    const room = PENDING_BYTES - this.used;
    if (isIndex(pos.seq) && isIndex(pos.offset)) {
      if (room < id.length + 2 * 16 + 6) return false;
      const buf = (this.buf ??= Buffer.allocUnsafe(PENDING_BYTES));
      let p = this.used;
      buf[p++] = 0x0a;
      p = writeDigits(buf, p, pos.seq);
      buf[p++] = 0x09;
      p = writeDigits(buf, p, pos.offset);
      buf[p++] = 0x09;
      buf[p++] = 0x22;
      let plain = true;
      for (let i = 0; i < id.length; i++) {
        const c = id.charCodeAt(i);
        if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
          plain = false;
          break;
        }
        buf[p++] = c;
      }
      if (plain) {
        buf[p++] = 0x22;
        buf[p++] = 0x0a;
        this.used = p;
        return true;
      }
      // Not plain: what was copied is dropped (used is unchanged) and the record is encoded whole below.
    }
    const record = recordOf(id, pos);
    // A UTF-16 unit is at most 3 UTF-8 bytes: skip the exact count when there is room anyway.
    if (room < record.length * 3 && room < Buffer.byteLength(record)) return false;
    this.buf ??= Buffer.allocUnsafe(PENDING_BYTES);
    this.used += this.buf.write(record, this.used);
    return true;
  }

  bytes(): Buffer {
    return this.buf!.subarray(0, this.used);
  }

  clear(): void {
    this.used = 0;
  }
}

export class RunIdIndex {
  private readonly pending: PendingBucket[] = Array.from({ length: BUCKETS }, () => new PendingBucket());
  private readonly touched = new Set<number>();
  private fingerprints: FingerprintSet | undefined;
  private dirMade = false;
  // firstSeen and add come in pairs for one id: hash it once.
  private lastId = '';
  private lastHash = hash32('');

  private constructor(readonly dir: string) {}

  /** `bulk`: load every id's fingerprint first (long passes). */
  static open(dir: string, bulk: boolean): RunIdIndex {
    const index = new RunIdIndex(dir);
    if (bulk) index.loadFingerprints(listDir(dir));
    return index;
  }

  private hashOf(id: string): number {
    if (id !== this.lastId) {
      this.lastId = id;
      this.lastHash = hash32(id);
    }
    return this.lastHash;
  }

  private loadFingerprints(names: readonly string[]): void {
    const set = new FingerprintSet();
    for (const file of names) {
      if (!BUCKET_RE.test(file)) continue;
      forEachRecord(readBucket(join(this.dir, file)), (jsonId) => {
        try {
          set.add(hash32(JSON.parse(jsonId) as string) || 1);
        } catch {
          // A torn record from a crash: its id is re-added when its line is replayed.
        }
      });
    }
    this.fingerprints = set;
  }

  /** Earliest known position of `id`, or undefined. */
  firstSeen(id: string): Position | undefined {
    const h = this.hashOf(id);
    if (this.fingerprints && !this.fingerprints.has(h || 1)) return undefined;
    const b = bucketOf(h);
    const needle = `\t${JSON.stringify(id)}\n`;
    const waiting = this.pending[b]!;
    const buffered = waiting.empty ? undefined : findIn(waiting.text(), needle);
    const onDisk = findIn(readBucket(join(this.dir, BUCKET_FILES[b]!)), needle);
    if (!buffered) return onDisk;
    if (!onDisk) return buffered;
    return comparePositions(buffered, onDisk) <= 0 ? buffered : onDisk;
  }

  add(id: string, pos: Position): void {
    const h = this.hashOf(id);
    this.fingerprints?.add(h || 1);
    const b = bucketOf(h);
    if (this.pending[b]!.tryAdd(id, pos)) return;
    this.writeBucket(b);
    // Only a record larger than the whole buffer (a huge run_id) goes straight to the file.
    if (!this.pending[b]!.tryAdd(id, pos)) this.appendToBucket(b, recordOf(id, pos));
  }

  private appendToBucket(b: number, data: string | Buffer): void {
    if (!this.dirMade) {
      mkdirSync(this.dir, { recursive: true });
      this.dirMade = true;
    }
    appendFileSync(join(this.dir, BUCKET_FILES[b]!), data);
    this.touched.add(b);
  }

  private writeBucket(b: number): void {
    const p = this.pending[b]!;
    if (p.empty) return;
    this.appendToBucket(b, p.bytes());
    p.clear();
  }

  /** Write what is buffered; with `fsync`, make every bucket written since open durable. */
  flush(fsync: boolean): void {
    for (let b = 0; b < BUCKETS; b++) this.writeBucket(b);
    if (fsync) {
      for (const b of this.touched) fsyncPath(join(this.dir, BUCKET_FILES[b]!));
    }
    this.touched.clear();
  }

  /**
   * Forget ids first seen after segment `seq` (a rebuild re-learns them),
   * keeping those from segments retention has deleted: they cannot be re-read.
   */
  static purgeAfter(dir: string, seq: number): void {
    const names = listDir(dir);
    if (seq <= 0) {
      // Emptied in place rather than removed: a rebuild then appends to
      // existing files instead of creating each one again (~0.15 ms apiece).
      if (names.length === 0) {
        rmSync(dir, { recursive: true, force: true });
        return;
      }
      for (const file of names) {
        if (BUCKET_RE.test(file)) truncateSync(join(dir, file), 0);
        else rmSync(join(dir, file), { recursive: true, force: true });
      }
      return;
    }
    for (const file of names) {
      if (!BUCKET_RE.test(file)) continue;
      const path = join(dir, file);
      const lines = readBucket(path).split('\n');
      const kept = lines.filter((line) => line !== '' && Number(line.slice(0, line.indexOf('\t'))) <= seq);
      if (kept.length === lines.filter((line) => line !== '').length) continue;
      if (kept.length === 0) {
        truncateSync(path, 0);
        continue;
      }
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, `${kept.join('\n')}\n`);
      renameSync(tmp, path);
    }
  }
}
