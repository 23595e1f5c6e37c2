import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { comparePositions, type Position } from '../store/names.js';

/**
 * Every counted run_id with the position of its first line, on disk, so a
 * duplicate check costs the same at any history size. Ids hash into 4096
 * append-only bucket files; a lookup reads one bucket. A record is
 * "\n<seq>\t<offset>\t<JSON id>\n": the leading newline keeps a record whole
 * even after a torn one left by a crash. Because each id carries its position, the index stays right on
 * any replay: a line is a duplicate only if its id is known at an earlier
 * position.
 *
 * A long pass (a rebuild) would read a bucket per line; instead it keeps a
 * table of 32-bit fingerprints of every id in memory (4 bytes per id at half
 * load) and reads a bucket only on a fingerprint hit.
 */
const BUCKET_BITS = 12;
const FLUSH_RECORDS = 50_000;

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function bucketName(h: number): string {
  return (h >>> (32 - BUCKET_BITS)).toString(16).padStart(3, '0');
}

/** Open-addressing set of non-zero 32-bit fingerprints. */
class FingerprintSet {
  private table = new Uint32Array(1 << 16);
  private size = 0;

  add(fp: number): void {
    if ((this.size + 1) * 2 > this.table.length) this.grow();
    if (this.insert(this.table, fp)) this.size++;
  }

  has(fp: number): boolean {
    const t = this.table;
    const mask = t.length - 1;
    for (let i = Math.imul(fp, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const v = t[i]!;
      if (v === 0) return false;
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

export class RunIdIndex {
  private readonly pendingIds = new Map<string, Position>();
  private pendingLines = new Map<string, string[]>();
  private pendingCount = 0;
  private readonly touched = new Set<string>();
  private fingerprints: FingerprintSet | undefined;

  private constructor(readonly dir: string) {}

  /** `bulk`: load every id's fingerprint first (long passes). */
  static open(dir: string, bulk: boolean): RunIdIndex {
    const index = new RunIdIndex(dir);
    if (bulk) index.loadFingerprints();
    return index;
  }

  private loadFingerprints(): void {
    const set = new FingerprintSet();
    for (const file of this.bucketFiles()) {
      const text = readBucket(join(this.dir, file));
      for (let start = 0; start < text.length; ) {
        const end = text.indexOf('\n', start);
        if (end === -1) break;
        const line = text.slice(start, end);
        start = end + 1;
        const tab = line.indexOf('\t', line.indexOf('\t') + 1);
        if (tab === -1) continue;
        try {
          set.add(hash32(JSON.parse(line.slice(tab + 1)) as string) || 1);
        } catch {
          // A torn record from a crash: its id is re-added when its line is replayed.
        }
      }
    }
    this.fingerprints = set;
  }

  private bucketFiles(): string[] {
    try {
      return readdirSync(this.dir).filter((f) => /^[0-9a-f]{3}\.idx$/.test(f));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }

  /** Earliest known position of `id`, or undefined. */
  firstSeen(id: string): Position | undefined {
    const h = hash32(id);
    if (this.fingerprints && !this.fingerprints.has(h || 1)) return undefined;
    const buffered = this.pendingIds.get(id);
    const onDisk = findIn(readBucket(join(this.dir, `${bucketName(h)}.idx`)), `\t${JSON.stringify(id)}\n`);
    if (!buffered) return onDisk;
    if (!onDisk) return buffered;
    return comparePositions(buffered, onDisk) <= 0 ? buffered : onDisk;
  }

  add(id: string, pos: Position): void {
    const h = hash32(id);
    this.fingerprints?.add(h || 1);
    const prev = this.pendingIds.get(id);
    if (!prev || comparePositions(pos, prev) < 0) this.pendingIds.set(id, { seq: pos.seq, offset: pos.offset });
    const bucket = bucketName(h);
    let lines = this.pendingLines.get(bucket);
    if (!lines) this.pendingLines.set(bucket, (lines = []));
    lines.push(`\n${pos.seq}\t${pos.offset}\t${JSON.stringify(id)}\n`);
    if (++this.pendingCount >= FLUSH_RECORDS) this.writePending();
  }

  private writePending(): void {
    if (this.pendingCount === 0) return;
    mkdirSync(this.dir, { recursive: true });
    for (const [bucket, lines] of this.pendingLines) {
      appendFileSync(join(this.dir, `${bucket}.idx`), lines.join(''));
      this.touched.add(bucket);
    }
    this.pendingLines = new Map();
    this.pendingIds.clear();
    this.pendingCount = 0;
  }

  /** Write what is buffered; with `fsync`, make every bucket written since open durable. */
  flush(fsync: boolean): void {
    this.writePending();
    if (fsync) {
      for (const bucket of this.touched) {
        const fd = openSync(join(this.dir, `${bucket}.idx`), 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
    }
    this.touched.clear();
  }

  /**
   * Forget ids first seen after segment `seq` (a rebuild re-learns them),
   * keeping those from segments retention has deleted: they cannot be re-read.
   */
  static purgeAfter(dir: string, seq: number): void {
    if (seq <= 0) {
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    const index = new RunIdIndex(dir);
    for (const file of index.bucketFiles()) {
      const path = join(dir, file);
      const kept = readBucket(path)
        .split('\n')
        .filter((line) => line !== '' && Number(line.slice(0, line.indexOf('\t'))) <= seq);
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, kept.length ? `${kept.join('\n')}\n` : '');
      renameSync(tmp, path);
    }
  }
}
