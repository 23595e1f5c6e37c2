import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ifExists, ifExistsSync } from '../errors.js';
import type { Logger } from '../log.js';
import { readJson, writeJsonAtomic } from './files.js';
import { summarizeFile } from './lines.js';
import { ensureIdentity, isStoreId, readStoreFile, seqFloor } from './identity.js';
import { ARCHIVED_FILE, FLATTEN_FILE, INDEX_FILE, STORE_FILE, isStoreTempName, parseSegmentName, type SegmentName, type StorePaths } from './names.js';

/** One sealed segment as the catalogue describes it. */
export interface SegmentRecord {
  seq: number;
  file: string;
  compressed: boolean;
  lines: number;
  /** Uncompressed content bytes. */
  bytes: number;
  /** Bytes on disk. */
  storedBytes: number;
  sha256: string;
  firstRecordedAt: string | null;
  lastRecordedAt: string | null;
  /**
   * Earliest and latest parseable `recorded_at` of the segment (null: none);
   * absent in records written before they were kept, which a query never skips.
   */
  minRecordedAt?: string | null;
  maxRecordedAt?: string | null;
  sealedAt: string;
}

export interface SegmentIndex {
  version: 1;
  /** Highest seq ever sealed: never goes back, even when every segment is deleted. */
  lastSeq: number;
  /**
   * A copy of store.json's storeId, so a lost store.json is told from a store
   * made before it (whose index has none); written after lastSeq (see INDEX_HEAD).
   */
  storeId?: string;
  segments: SegmentRecord[];
}

/** What is in metrics.segments/, sorted out by what the store owns. */
export interface SegmentsDir {
  /** Real segment files, one per seq, ascending. */
  segments: SegmentName[];
  /** Plain twins of a compressed segment, left by a crash mid-compression. */
  twins: SegmentName[];
  symlinks: string[];
  foreign: string[];
  temps: string[];
  hasIndex: boolean;
  hasStoreFile: boolean;
}

export async function scanSegmentsDir(paths: StorePaths): Promise<SegmentsDir> {
  const out: SegmentsDir = { segments: [], twins: [], symlinks: [], foreign: [], temps: [], hasIndex: false, hasStoreFile: false };
  const entries = ifExistsSync(() => readdirSync(paths.segments, { withFileTypes: true })) ?? [];
  const bySeq = new Map<number, SegmentName>();
  for (const e of entries) {
    if (e.isSymbolicLink()) {
      out.symlinks.push(e.name);
      continue;
    }
    if (e.name === INDEX_FILE && e.isFile()) {
      out.hasIndex = true;
      continue;
    }
    if (e.name === STORE_FILE && e.isFile()) {
      out.hasStoreFile = true;
      continue;
    }
    if (e.name === ARCHIVED_FILE && e.isFile()) continue;
    // A flatten's journal: the next lock holder finishes or undoes it.
    if (e.name === FLATTEN_FILE && e.isFile()) continue;
    const name = e.isFile() ? parseSegmentName(e.name) : undefined;
    if (!name) {
      (e.isFile() && isStoreTempName(e.name) ? out.temps : out.foreign).push(e.name);
      continue;
    }
    const other = bySeq.get(name.seq);
    if (!other) {
      bySeq.set(name.seq, name);
      continue;
    }
    // The .gz is renamed into place only once complete, so it wins over its plain twin.
    const [keep, twin] = name.compressed ? [name, other] : [other, name];
    if (keep.file.replace(/\.gz$/, '') === twin.file) {
      bySeq.set(name.seq, keep);
      out.twins.push(twin);
    } else {
      out.foreign.push(name.file);
    }
  }
  out.segments = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  out.foreign.sort();
  return out;
}

function isRecord(x: unknown): x is SegmentRecord {
  const r = x as SegmentRecord;
  return typeof r === 'object' && r !== null && Number.isSafeInteger(r.seq) && typeof r.file === 'string'
    && typeof r.sha256 === 'string' && Number.isSafeInteger(r.lines) && Number.isSafeInteger(r.bytes);
}

/** The index as stored, or undefined when it is missing or unreadable. */
export async function readIndex(paths: StorePaths): Promise<SegmentIndex | undefined> {
  try {
    const json = (await readJson(paths.index)) as SegmentIndex | undefined;
    if (!json || json.version !== 1 || !Array.isArray(json.segments) || !json.segments.every(isRecord)) return undefined;
    if (!Number.isSafeInteger(json.lastSeq)) return undefined;
    if (json.storeId !== undefined && !isStoreId(json.storeId)) delete json.storeId;
    return json;
  } catch {
    return undefined;
  }
}

export async function describeSegment(paths: StorePaths, name: SegmentName): Promise<SegmentRecord> {
  const s = await summarizeFile(join(paths.segments, name.file), name.compressed);
  return {
    seq: name.seq,
    file: name.file,
    compressed: name.compressed,
    lines: s.lines,
    bytes: s.end,
    storedBytes: s.storedBytes,
    sha256: s.sha256,
    firstRecordedAt: s.firstRecordedAt,
    lastRecordedAt: s.lastRecordedAt,
    minRecordedAt: s.minRecordedAt,
    maxRecordedAt: s.maxRecordedAt,
    sealedAt: new Date(name.sealedAtMs).toISOString(),
  };
}

/**
 * What a reader needs, cheaply: the sealed files in order and the highest seq
 * ever sealed (so the active file's seq), without describing any segment.
 */
export async function sealedView(paths: StorePaths): Promise<{ dir: SegmentsDir; lastSeq: number }> {
  const [stored, dir] = await Promise.all([indexLastSeq(paths), scanSegmentsDir(paths)]);
  return { dir, lastSeq: Math.max(stored ?? 0, seqFloor(paths), dir.segments.at(-1)?.seq ?? 0) };
}

/**
 * The highest seq ever sealed, cheaply: store.json's floor, the head of
 * index.json and the newest segment name, without describing or parsing the
 * catalogue. The active file's seq is one more.
 */
export async function lastSealedSeq(paths: StorePaths): Promise<number> {
  return (await sealedView(paths)).lastSeq;
}

/** How writeIndex starts the file: a reader that wants only lastSeq need not parse every record. */
const INDEX_HEAD = /^\{\s*"version": 1,\s*"lastSeq": (\d+),/;

/** Bytes of index.json read for its lastSeq: the head writeIndex lays out, with room to spare. */
const HEAD_BYTES = 256;

/**
 * index.json's lastSeq, read from the head of the file as writeIndex lays it
 * out (the whole file is ~270 KB at 600 segments, and this is read on every
 * pass that lists the segments), else from a full parse; undefined when
 * there is no readable index.
 */
export async function indexLastSeq(paths: StorePaths): Promise<number | undefined> {
  const fd = ifExistsSync(() => openSync(paths.index, 'r'));
  if (fd === undefined) return undefined;
  let head: string;
  try {
    const buf = Buffer.allocUnsafe(HEAD_BYTES);
    head = buf.toString('utf8', 0, readSync(fd, buf, 0, HEAD_BYTES, 0));
  } finally {
    closeSync(fd);
  }
  const m = INDEX_HEAD.exec(head);
  if (m) return Number(m[1]);
  return (await readIndex(paths))?.lastSeq;
}

export interface IndexState {
  index: SegmentIndex;
  dir: SegmentsDir;
  /** True when the stored index did not match the directory. */
  rebuilt: boolean;
}

/**
 * The catalogue, brought in step with the directory (the directory is the
 * truth): records for files that are gone are dropped, files the index lacks
 * are described from their bytes. With `persist` (only under the writer lock)
 * a changed index is written back and crash twins are removed. The index
 * keeps a copy of store.json's storeId (never makes one up).
 */
export async function loadIndex(paths: StorePaths, opts: { log: Logger; persist: boolean; fsync: boolean }): Promise<IndexState> {
  const [stored, dir] = await Promise.all([readIndex(paths), scanSegmentsDir(paths)]);
  const file = readStoreFile(paths);
  const floor = typeof file === 'object' ? file.seqFloor : 0;
  const known = new Map((stored?.segments ?? []).map((r) => [r.seq, r]));
  let rebuilt = stored ? known.size !== dir.segments.length : dir.segments.length > 0 || floor > 0;
  const segments: SegmentRecord[] = [];
  for (const name of dir.segments) {
    const rec = known.get(name.seq);
    if (rec && rec.file === name.file) {
      segments.push(rec);
    } else {
      rebuilt = true;
      segments.push(await describeSegment(paths, name));
    }
  }
  const lastSeq = Math.max(stored?.lastSeq ?? 0, floor, segments.at(-1)?.seq ?? 0);
  const storeId = typeof file === 'object' ? file.storeId : stored?.storeId;
  const index: SegmentIndex = { version: 1, lastSeq, ...(storeId !== undefined ? { storeId } : {}), segments };
  if (opts.persist && stored && !rebuilt && lastSeq === stored.lastSeq && storeId !== stored.storeId) writeIndex(paths, index, opts.fsync);
  if (rebuilt || (stored && lastSeq !== stored.lastSeq)) {
    if (opts.persist) {
      writeIndex(paths, index, opts.fsync);
      opts.log.warn({ segments: segments.length, lastSeq, had: stored ? stored.segments.length : null }, 'segment index rebuilt from the directory');
    }
  }
  if (opts.persist) {
    for (const twin of dir.twins) {
      const st = await ifExists(() => lstat(join(paths.segments, twin.file)));
      if (st?.isFile()) await ifExists(() => unlink(join(paths.segments, twin.file)));
    }
  }
  return { index, dir, rebuilt };
}

/**
 * The store's id as far as it is known: store.json's, else the copy index.json
 * keeps (a store that lost store.json), else undefined (none made yet).
 */
export async function knownStoreId(paths: StorePaths): Promise<string | undefined> {
  const file = readStoreFile(paths);
  return typeof file === 'object' ? file.storeId : (await readIndex(paths))?.storeId;
}

/**
 * Under the writer lock: store.json exists after this, unless the store lost
 * it with no copy left; index.json then carries the copy of its storeId.
 */
export async function ensureStoreFile(paths: StorePaths, opts: { log: Logger; fsync: boolean }): Promise<void> {
  let made = false;
  await ensureIdentity(paths, {
    ...opts,
    catalogue: async () => {
      made = true;
      return (await loadIndex(paths, { ...opts, persist: true })).index;
    },
  });
  if (!made) return;
  const { index } = await loadIndex(paths, { ...opts, persist: false });
  if (index.storeId !== undefined) writeIndex(paths, index, opts.fsync);
}

export function writeIndex(paths: StorePaths, index: SegmentIndex, fsync: boolean): void {
  writeJsonAtomic(paths.index, index, fsync);
}
