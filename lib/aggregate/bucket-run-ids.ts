import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { diskFullAs, errnoCode, ifExistsSync, StoreError } from '../errors.js';
import { fsyncDir, fsyncFile, writeAll, writeJsonAtomic } from '../store/files.js';
import { comparePositions, type Position } from '../store/names.js';
import { fileSystem } from '../store/store.js';
import type { PassShape, RunIdIndex, RunIdIndexKind } from './run-ids.js';

/**
 * Every counted run_id with the position of its first line, on disk, so a
 * duplicate check costs the same at any history size. Ids hash into
 * append-only bucket files; a lookup reads one bucket. A record is
 * "\n<seq>\t<offset>\t<JSON id>\n": the leading newline keeps a record whole
 * even after a torn one left by a crash. Because each id carries its position,
 * the index stays right on any replay: a line is a duplicate only if its id is
 * known at an earlier position.
 *
 * How many buckets follows the index's size (about 256 KB each): a rebuild
 * creates and fsyncs every bucket, ~0.4 ms apiece, which a fixed 256 made a
 * 100 ms floor under every rebuild, more than reading 10k entries costs. The
 * files of one layout form a generation (layout.json names it: generation and
 * hash bits). A rebuild starts a new generation; a flush that leaves a bucket
 * over GROW_AT copies the index into a generation with more buckets. Either
 * way the new generation is written in full before layout.json is switched to
 * it atomically, and only then is the old one deleted, so a crash leaves the
 * old index or the new one, never a mix. A store from before generations (256
 * buckets named <2 hex>.idx, no layout.json) is read as generation 0.
 *
 * A long pass (a rebuild) would read a bucket per line; instead it keeps a
 * table of 32-bit fingerprints of every id in memory (4 bytes per id at half
 * load) and reads a bucket only on a fingerprint hit. A long pass over lines
 * the index already holds (retention folding what was aggregated) would hit
 * on every line; the same scan that loads the fingerprints also notes which
 * positions in the pass are the first line of their id, so such a line is
 * answered from memory.
 */
interface Layout {
  gen: number;
  bits: number;
}
const LAYOUT_FILE = 'layout.json';
const LEGACY: Layout = { gen: 0, bits: 8 };
const LEGACY_FILE = /^[0-9a-f]{2}\.idx$/;
/** A bucket file (or a temp file of the old in-place purge) of any generation; group 1 is the generation. */
const OWN_FILE = /^(?:g(\d+)-[0-9a-f]+|[0-9a-f]{2})\.idx(?:\.tmp)?$/;
/** Aimed-for bucket size: a lookup reads one bucket (~80 us at 256 KB). */
const BUCKET_TARGET = 256 << 10;
/** A bucket past this after a flush makes the index regrow into more buckets. */
const GROW_AT = 1 << 20;
const MAX_BITS = 16;
/**
 * History bytes per index byte, at least: a record is ~40 bytes and an entry
 * is rarely under 1 KB. Over-estimating costs files; under-estimating, a
 * regrow at the end of the pass.
 */
const HISTORY_PER_INDEX_BYTE = 24;
/** Bytes of a typical record ("\n<seq>\t<offset>\t<JSON id>\n"), for counting ids by size. */
const RECORD_BYTES = 40;
/** Pre-sizing stops here (16 MB); past it the table grows as ids come. */
const MAX_PRESIZED_SLOTS = 1 << 22;
/** Record bytes buffered per bucket before a write, and for all buckets together (each bucket gets at least 1 KiB). */
const PENDING_BYTES = 16 << 10;
const PENDING_TOTAL = 4 << 20;
/** Lookup results a pass keeps. */
const FOUND_MAX = 4096;

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Fewest hash bits that keep `bytes` of records near BUCKET_TARGET per bucket. */
function bitsFor(bytes: number): number {
  let bits = 0;
  while (bits < MAX_BITS && bytes / 2 ** bits > BUCKET_TARGET) bits++;
  return bits;
}

function bucketName(layout: Layout, b: number): string {
  if (layout.gen === 0) return `${b.toString(16).padStart(2, '0')}.idx`;
  return `g${layout.gen}-${b.toString(16).padStart(Math.max(1, Math.ceil(layout.bits / 4)), '0')}.idx`;
}

function generationOf(name: string): number | undefined {
  const m = OWN_FILE.exec(name);
  return m ? Number(m[1] ?? 0) : undefined;
}

/** The layout in force; undefined when there is no index (or layout.json is unreadable, which is no better). */
function readLayout(dir: string): Layout | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, LAYOUT_FILE), 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    return listDir(dir).some((n) => LEGACY_FILE.test(n)) ? LEGACY : undefined;
  }
  try {
    const l = JSON.parse(text) as Layout;
    if (Number.isSafeInteger(l.gen) && l.gen > 0 && Number.isSafeInteger(l.bits) && l.bits >= 0 && l.bits <= MAX_BITS) return { gen: l.gen, bits: l.bits };
  } catch {
    // as below
  }
  return undefined;
}

/** A generation no file in `dir` belongs to: leftovers of a crashed regrow are never appended to. */
function nextGeneration(dir: string, after: number): number {
  let gen = after;
  for (const name of listDir(dir)) gen = Math.max(gen, generationOf(name) ?? 0);
  return gen + 1;
}

/** Make `layout` the index (atomically), then delete every other generation. */
function switchTo(dir: string, layout: Layout, durable: boolean): void {
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, LAYOUT_FILE), layout, durable);
  if (durable) fsyncDir(dir, 'run-ids');
  for (const name of listDir(dir)) {
    const gen = generationOf(name);
    if (gen === undefined || (gen === layout.gen && !name.endsWith('.tmp'))) continue;
    try {
      fileSystem().unlink(join(dir, name), 'run-ids');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
}

/** Open-addressing set of non-zero 32-bit fingerprints. */
class FingerprintSet {
  private table: Uint32Array;
  private size = 0;

  /**
   * Sized for `expected` ids up front when the caller can tell: every doubling
   * left the old table (long-lived, so in the old generation) resident until a
   * major GC that a rebuild rarely reaches, ~8 MB over a 1M-entry rebuild.
   */
  constructor(expected: number) {
    let slots = 1 << 16;
    while (slots < 2 * expected && slots < MAX_PRESIZED_SLOTS) slots *= 2;
    this.table = new Uint32Array(slots);
  }

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

/**
 * Each complete record of a bucket's text as (id, position). A torn record
 * left by a crash is skipped: its id is added again when its line is replayed.
 */
function forEachRecord(text: string, f: (id: string, pos: Position) => void): void {
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    if (end === -1) break;
    const tab1 = text.indexOf('\t', start);
    const tab2 = tab1 === -1 || tab1 > end ? -1 : text.indexOf('\t', tab1 + 1);
    if (tab2 !== -1 && tab2 < end) {
      const pos = { seq: Number(text.slice(start, tab1)), offset: Number(text.slice(tab1 + 1, tab2)) };
      const id = isIndex(pos.seq) && isIndex(pos.offset) ? parseId(text.slice(tab2 + 1, end)) : undefined;
      if (id !== undefined) f(id, pos);
    }
    start = end + 1;
  }
}

/**
 * Each complete record of a bucket's text as (hash of its id, seq, offset),
 * without building the id or position: a long pass hashes every record of
 * the index, and building strings and objects for each made that scan cost
 * more than reading the lines it was for. Plain ids (no escapes) are hashed
 * from the text in place; a record that does not parse is skipped.
 */
function scanRecords(text: string, f: (h: number, seq: number, offset: number) => void): void {
  const n = text.length;
  for (let i = 0; i < n; ) {
    const end = text.indexOf('\n', i);
    if (end === -1) return;
    let p = i;
    i = end + 1;
    let seq = 0;
    let digits = 0;
    for (let c = text.charCodeAt(p); c >= 0x30 && c <= 0x39; c = text.charCodeAt(++p), digits++) seq = seq * 10 + (c - 0x30);
    if (digits === 0 || digits > 15 || text.charCodeAt(p++) !== 0x09) continue;
    let offset = 0;
    digits = 0;
    for (let c = text.charCodeAt(p); c >= 0x30 && c <= 0x39; c = text.charCodeAt(++p), digits++) offset = offset * 10 + (c - 0x30);
    if (digits === 0 || digits > 15 || text.charCodeAt(p++) !== 0x09) continue;
    // p .. end-1 is the JSON id: "..." with nothing to unescape, or else parsed.
    if (end - p < 2 || text.charCodeAt(p) !== 0x22 || text.charCodeAt(end - 1) !== 0x22) continue;
    let h = 0x811c9dc5;
    let plain = true;
    for (let k = p + 1; k < end - 1; k++) {
      const c = text.charCodeAt(k);
      if (c === 0x5c || c === 0x22) {
        plain = false;
        break;
      }
      h ^= c;
      h = Math.imul(h, 0x01000193);
    }
    if (plain) {
      f(h >>> 0, seq, offset);
      continue;
    }
    const id = parseId(text.slice(p, end));
    if (id !== undefined) f(hash32(id), seq, offset);
  }
}

/** A record's JSON id; undefined when torn. Plain ids (no escapes) skip JSON.parse. */
function parseId(json: string): string | undefined {
  const last = json.length - 1;
  if (last > 0 && json.charCodeAt(0) === 0x22 && json.indexOf('"', 1) === last && json.indexOf('\\') === -1) return json.slice(1, last);
  try {
    const id: unknown = JSON.parse(json);
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Positions in one pass that the index holds as the first line of their id,
 * each with 21 bits of its id's hash, so a line is answered from here only
 * when it carries that id. Packed as offset * 2^21 + hash bits in a sorted
 * array per segment (8 bytes a line; a Map of half a million positions was
 * ~40 MB and most of a retention's garbage collection); an offset past 2^32
 * (a segment over 4 GiB) is simply not held, and its line looked up.
 */
class FirstPositions {
  private readonly growing = new Map<number, number[]>();
  private readonly bySeq = new Map<number, Float64Array>();

  private static key(offset: number, h: number): number {
    return offset * 2 ** 21 + (h >>> 11);
  }

  add(seq: number, offset: number, h: number): void {
    if (offset >= 2 ** 32) return;
    let keys = this.growing.get(seq);
    if (!keys) this.growing.set(seq, (keys = []));
    keys.push(FirstPositions.key(offset, h));
  }

  /** After the last add. */
  seal(): void {
    for (const [seq, keys] of this.growing) this.bySeq.set(seq, Float64Array.from(keys).sort());
    this.growing.clear();
  }

  has(pos: Position, h: number): boolean {
    const keys = this.bySeq.get(pos.seq);
    if (!keys || pos.offset >= 2 ** 32) return false;
    const key = FirstPositions.key(pos.offset, h);
    let lo = 0;
    let hi = keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid]!;
      if (k === key) return true;
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }
}

/** Records of one bucket as (hash, seq, offset), in growable typed arrays reused bucket after bucket. */
class RecordList {
  h = new Uint32Array(1024);
  seq = new Float64Array(1024);
  offset = new Float64Array(1024);
  length = 0;

  clear(): void {
    this.length = 0;
  }

  push(h: number, seq: number, offset: number): void {
    if (this.length === this.h.length) {
      const grow = <T extends Uint32Array | Float64Array>(a: T): T => {
        const next = new (a.constructor as new (n: number) => T)(a.length * 2);
        next.set(a);
        return next;
      };
      this.h = grow(this.h);
      this.seq = grow(this.seq);
      this.offset = grow(this.offset);
    }
    this.h[this.length] = h;
    this.seq[this.length] = seq;
    this.offset[this.length++] = offset;
  }
}

const BEFORE = 1;
const IN_PASS = 2;
const AGAIN = 4;

/** Flags per 32-bit hash (open addressing, 0 as empty: hash 0 is kept as 1). */
class HashMarks {
  private keys = new Uint32Array(1 << 12);
  private flags = new Uint8Array(1 << 12);
  private size = 0;

  clear(expected: number): void {
    let slots = this.keys.length;
    while (slots < 2 * expected) slots *= 2;
    if (slots !== this.keys.length) {
      this.keys = new Uint32Array(slots);
      this.flags = new Uint8Array(slots);
    } else {
      this.keys.fill(0);
      this.flags.fill(0);
    }
    this.size = 0;
  }

  private slot(h: number): number {
    const k = h || 1;
    const mask = this.keys.length - 1;
    for (let i = Math.imul(k, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const v = this.keys[i]!;
      if (v === k || v === 0) return i;
    }
  }

  has(h: number, flag: number): boolean {
    return (this.flags[this.slot(h)]! & flag) !== 0;
  }

  mark(h: number, flag: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const i = this.slot(h);
    if (this.keys[i] === 0) {
      this.keys[i] = h || 1;
      this.size++;
    }
    this.flags[i]! |= flag;
  }

  private grow(): void {
    const [keys, flags] = [this.keys, this.flags];
    this.keys = new Uint32Array(keys.length * 2);
    this.flags = new Uint8Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === 0) continue;
      const j = this.slot(keys[i]!);
      this.keys[j] = keys[i]!;
      this.flags[j] = flags[i]!;
    }
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

  constructor(private readonly capacity: number) {}

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
    const room = this.capacity - this.used;
    if (isIndex(pos.seq) && isIndex(pos.offset)) {
      if (room < id.length + 2 * 16 + 6) return false;
      const buf = (this.buf ??= Buffer.allocUnsafe(this.capacity));
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
    this.buf ??= Buffer.allocUnsafe(this.capacity);
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

class BucketRunIdIndex implements RunIdIndex {
  private readonly pending: Array<PendingBucket | undefined> = [];
  private readonly pendingBytes: number;
  /** Buckets written since the last flush, with their size after the write. */
  private readonly written = new Map<number, number>();
  private createdFiles = false;
  private fingerprints: FingerprintSet | undefined;
  private firsts: FirstPositions | undefined;
  /** Ids added at a position earlier than the one the index held: `firsts` no longer speaks for them. */
  private readonly movedEarlier = new Set<string>();
  /** What lookups found, for ids a pass meets again (a run sent over and over): one bucket read each. */
  private readonly found = new Map<string, Position>();
  // firstSeen and add come in pairs for one id: hash it once, and remember what the lookup found.
  private lastId = '';
  private lastHash = hash32('');
  private lastFound: Position | undefined;

  /** `fresh`: no layout.json yet; the first flush that writes anything writes it. */
  constructor(
    readonly dir: string,
    private layout: Layout,
    private fresh: boolean,
  ) {
    this.pendingBytes = Math.max(1024, Math.min(PENDING_BYTES, PENDING_TOTAL >> layout.bits));
  }

  /**
   * The index for `pass`. A pass of more lines than there are buckets reads
   * every bucket once first (fingerprints, and the first positions in the
   * pass), as that beats reading a bucket per line; a new index is sized
   * for the history the pass reads.
   */
  static open(dir: string, pass: PassShape): BucketRunIdIndex {
    const layout = readLayout(dir);
    const index = layout
      ? new BucketRunIdIndex(dir, layout, false)
      : new BucketRunIdIndex(dir, { gen: nextGeneration(dir, 0), bits: bitsFor(pass.bytes / HISTORY_PER_INDEX_BYTE) }, true);
    if (pass.lines > index.buckets) index.loadPass(pass);
    return index;
  }

  static present(dir: string): boolean {
    return readLayout(dir) !== undefined;
  }

  /** A new generation, sized for the history the rebuild reads, with the ids up to `keepSeq`. */
  static reset(dir: string, keepSeq: number, pass: PassShape, durable: boolean): void {
    if (keepSeq > 0 && !readLayout(dir) && listDir(dir).some((n) => generationOf(n) !== undefined)) {
      // Starting over would delete the only record of the ids of segments retention deleted.
      throw new StoreError(`${join(dir, LAYOUT_FILE)} is missing or unreadable, but bucket files are there: they hold the run_ids of deleted segments; restore layout.json (or move the directory away to accept losing them)`);
    }
    const current = keepSeq > 0 ? BucketRunIdIndex.open(dir, { from: { seq: 1, offset: 0 }, lines: 0, bytes: 0 }) : undefined;
    const bits = bitsFor((current?.totalBytes() ?? 0) + pass.bytes / HISTORY_PER_INDEX_BYTE);
    BucketRunIdIndex.writeGeneration(dir, { gen: nextGeneration(dir, current?.layout.gen ?? 0), bits }, current, (pos) => pos.seq <= keepSeq, durable);
  }

  /**
   * Write generation `layout` in full (the records of `from` that `keep` lets
   * through), then switch layout.json to it and delete the others: a crash
   * before the switch leaves the old generation in force, untouched.
   */
  private static writeGeneration(dir: string, layout: Layout, from: BucketRunIdIndex | undefined, keep: (pos: Position) => boolean, durable: boolean): void {
    const next = new BucketRunIdIndex(dir, layout, false);
    from?.forEachRecord((id, pos) => {
      if (keep(pos)) next.add(id, pos);
    });
    next.writeOut(durable);
    fileSystem().step('run-ids:before-switch');
    switchTo(dir, layout, durable);
  }

  private hashOf(id: string): number {
    if (id !== this.lastId) {
      this.lastId = id;
      this.lastHash = hash32(id);
      this.lastFound = undefined;
    }
    return this.lastHash;
  }

  private bucketOf(h: number): number {
    // (h >>> 32 would be h itself.)
    return this.layout.bits === 0 ? 0 : h >>> (32 - this.layout.bits);
  }

  private bucketPath(b: number): string {
    return join(this.dir, bucketName(this.layout, b));
  }

  get buckets(): number {
    return 2 ** this.layout.bits;
  }

  private forEachRecord(f: (id: string, pos: Position) => void): void {
    for (let b = 0; b < this.buckets; b++) forEachRecord(readBucket(this.bucketPath(b)), f);
  }

  private totalBytes(): number {
    let total = 0;
    for (let b = 0; b < this.buckets; b++) total += ifExistsSync(() => statSync(this.bucketPath(b)))?.size ?? 0;
    return total;
  }

  /**
   * One read of every bucket: every id's fingerprint, and the positions in
   * `pass` that are the first line of their id. An id's records all live in
   * its one bucket, so "first" is decided bucket by bucket.
   */
  private loadPass(pass: PassShape): void {
    const set = new FingerprintSet(pass.lines + this.totalBytes() / RECORD_BYTES);
    const firsts = new FirstPositions();
    const { from } = pass;
    const until = pass.untilSeq ?? Infinity;
    // Per bucket, reused: its records in the pass, and per id hash how often it is there and whether also before.
    const inPass = new RecordList();
    const marks = new HashMarks();
    for (let b = 0; b < this.buckets; b++) {
      const text = readBucket(this.bucketPath(b));
      inPass.clear();
      marks.clear(text.length / RECORD_BYTES);
      scanRecords(text, (h, seq, offset) => {
        set.add(h || 1);
        if (seq > until) return;
        if (seq < from.seq || (seq === from.seq && offset < from.offset)) marks.mark(h, BEFORE);
        else {
          marks.mark(h, marks.has(h, IN_PASS) ? AGAIN : IN_PASS);
          inPass.push(h, seq, offset);
        }
      });
      // An id also recorded before the pass is first seen there; one recorded twice in it (keyed by hash,
      // so two ids of one hash too) is looked up: its line costs a bucket read, never a wrong answer.
      for (let i = 0; i < inPass.length; i++) {
        const h = inPass.h[i]!;
        if (!marks.has(h, BEFORE) && !marks.has(h, AGAIN)) firsts.add(inPass.seq[i]!, inPass.offset[i]!, h);
      }
    }
    firsts.seal();
    this.fingerprints = set;
    this.firsts = firsts;
  }

  /** Earliest known position of `id`, or undefined. */
  firstSeen(id: string, at?: Position): Position | undefined {
    const h = this.hashOf(id);
    this.lastFound = at && this.firsts?.has(at, h) && !this.movedEarlier.has(id) ? { seq: at.seq, offset: at.offset } : this.lookup(id, h);
    return this.lastFound;
  }

  private lookup(id: string, h: number): Position | undefined {
    if (this.fingerprints && !this.fingerprints.has(h || 1)) return undefined;
    const cached = this.found.get(id);
    if (cached) return cached;
    const pos = this.read(id, h);
    if (pos) {
      if (this.found.size >= FOUND_MAX) this.found.clear();
      this.found.set(id, pos);
    }
    return pos;
  }

  private read(id: string, h: number): Position | undefined {
    const b = this.bucketOf(h);
    const needle = `\t${JSON.stringify(id)}\n`;
    const waiting = this.pending[b];
    const buffered = waiting && !waiting.empty ? findIn(waiting.text(), needle) : undefined;
    const onDisk = findIn(readBucket(this.bucketPath(b)), needle);
    if (!buffered) return onDisk;
    if (!onDisk) return buffered;
    return comparePositions(buffered, onDisk) <= 0 ? buffered : onDisk;
  }

  add(id: string, pos: Position): void {
    // Unless its lookup just found nothing, the id may be known at a later position that
    // `firsts` holds as its first: from now on the buckets answer for it.
    if (this.firsts && !(this.lastId === id && this.lastFound === undefined)) this.movedEarlier.add(id);
    this.found.delete(id);
    const h = this.hashOf(id);
    this.fingerprints?.add(h || 1);
    const b = this.bucketOf(h);
    const waiting = (this.pending[b] ??= new PendingBucket(this.pendingBytes));
    if (waiting.tryAdd(id, pos)) return;
    this.writeBucket(b);
    // Only a record larger than the whole buffer (a huge run_id) goes straight to the file.
    if (!waiting.tryAdd(id, pos)) this.appendToBucket(b, recordOf(id, pos));
  }
  private appendToBucket(b: number, data: string | Buffer): void {
    if (this.written.size === 0) mkdirSync(this.dir, { recursive: true });
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const path = this.bucketPath(b);
    const fd = fileSystem().open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o666, 'run-ids');
    try {
      const before = fstatSync(fd).size;
      try {
        writeAll(fd, bytes, 'run-ids');
      } catch (err) {
        // A full disk mid-record: take the part back, so the bucket ends on a whole record.
        try {
          ftruncateSync(fd, before);
        } catch {
          // A torn record is skipped on reading; its id is re-added when its line is replayed.
        }
        throw diskFullAs(path, err);
      }
      const size = before + bytes.length;
      // All of it ours: the file is new, and its directory entry must be made durable too.
      if (before === 0) this.createdFiles = true;
      this.written.set(b, size);
    } finally {
      closeSync(fd);
    }
  }


  private writeBucket(b: number): void {
    const p = this.pending[b];
    if (!p || p.empty) return;
    this.appendToBucket(b, p.bytes());
    p.clear();
  }

  /** Write what is buffered (durably with `durable`); the size of the largest bucket written. */
  private writeOut(durable: boolean): number {
    for (let b = 0; b < this.pending.length; b++) this.writeBucket(b);
    let largest = 0;
    for (const [b, size] of this.written) {
      if (durable) fsyncFile(this.bucketPath(b), 'run-ids');
      largest = Math.max(largest, size);
    }
    if (durable && this.createdFiles) fsyncDir(this.dir, 'run-ids');
    this.createdFiles = false;
    if (this.fresh && this.written.size > 0) {
      switchTo(this.dir, this.layout, durable);
      this.fresh = false;
    }
    this.written.clear();
    return largest;
  }

  /** Write what is buffered; with `durable`, make it survive a power loss. */
  flush(durable: boolean): void {
    if (this.writeOut(durable) > GROW_AT) this.regrow(durable);
  }

  /** Copy every record into a generation with more buckets and switch to it. */
  private regrow(durable: boolean): void {
    // One bucket over GROW_AT alone (a huge run_id, a skewed hash) is no reason to copy the whole index.
    const bits = Math.min(MAX_BITS, bitsFor(this.totalBytes()));
    if (bits <= this.layout.bits) return;
    const layout = { gen: nextGeneration(this.dir, this.layout.gen), bits };
    BucketRunIdIndex.writeGeneration(this.dir, layout, this, () => true, durable);
    this.layout = layout;
    this.pending.length = 0;
  }

  close(): void {
    this.pending.length = 0;
    this.fingerprints = undefined;
    this.firsts = undefined;
    this.movedEarlier.clear();
    this.found.clear();
  }
}

export const bucketRunIds: RunIdIndexKind = {
  present: (dir) => BucketRunIdIndex.present(dir),
  open: (dir, pass) => BucketRunIdIndex.open(dir, pass),
  reset: (dir, keepSeq, pass, durable) => BucketRunIdIndex.reset(dir, keepSeq, pass, durable),
};
