import { join } from 'node:path';

/** Every path the store owns under one metrics root (the contract's layout). */
export interface StorePaths {
  root: string;
  active: string;
  lock: string;
  pending: string;
  segments: string;
  index: string;
  /** metrics.segments/store.json: identity and seq floor. */
  storeFile: string;
  corrupt: string;
  metrics: string;
  /** metrics/aggregate.lock: aggregators of one root take turns; the exclusive section takes it first. */
  aggregateLock: string;
}

export const ACTIVE_FILE = 'metrics.json';
export const INDEX_FILE = 'index.json';
export const STORE_FILE = 'store.json';
/** metrics.segments/archived.json: the local record of what was archived where (a cache: see lib/archive/record.ts). */
export const ARCHIVED_FILE = 'archived.json';
/** metrics.segments/flatten.json: a flatten in progress (see store/flatten.ts). */
export const FLATTEN_FILE = 'flatten.json';

export function storePaths(root: string): StorePaths {
  const segments = join(root, 'metrics.segments');
  return {
    root,
    active: join(root, ACTIVE_FILE),
    lock: join(root, 'metrics.lock'),
    pending: join(root, 'metrics.pending'),
    segments,
    index: join(segments, INDEX_FILE),
    storeFile: join(segments, STORE_FILE),
    corrupt: join(root, 'metrics.corrupt'),
    metrics: join(root, 'metrics'),
    aggregateLock: join(root, 'metrics', 'aggregate.lock'),
  };
}

/** Shared: parseSegmentName hands out one object per name, hence readonly. */
export interface SegmentName {
  readonly seq: number;
  /** Sealing time encoded in the name, ms since epoch. */
  readonly sealedAtMs: number;
  readonly compressed: boolean;
  readonly file: string;
}

const SEGMENT_RE = /^metrics-(\d{8,})-((\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z)\.jsonl(\.gz)?$/;

/** YYYYMMDDTHHMMSSmmmZ: sortable, and safe in every file system. */
export function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

export function segmentFileName(seq: number, sealedAtMs: number, compressed: boolean): string {
  return `metrics-${String(seq).padStart(8, '0')}-${compactTime(sealedAtMs)}.jsonl${compressed ? '.gz' : ''}`;
}

/**
 * Names parsed so far: a name never changes meaning, and every run lists the
 * segments directory, so a store of 124 segments parsed 124 names or more a
 * run, each round-tripping its time through Date.
 */
const parsed = new Map<string, SegmentName | undefined>();
const PARSED_MAX = 100_000;

export function parseSegmentName(file: string): SegmentName | undefined {
  if (parsed.has(file)) return parsed.get(file);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  const name = parseUncached(file);
  parsed.set(file, name);
  return name;
}

function parseUncached(file: string): SegmentName | undefined {
  const m = SEGMENT_RE.exec(file);
  if (!m) return undefined;
  const [, seq, , y, mo, d, h, mi, s, ms, gz] = m;
  const sealedAtMs = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!, +ms!);
  // Reject impossible dates (month 13, Feb 30, hour 24) and years Date.UTC moves (0-99 mean 19xx): they would not
  // round-trip. Checked field by field: formatting the time back costs more than the rest of a listing of 600 names.
  const at = new Date(sealedAtMs);
  const exact = at.getUTCFullYear() === +y! && at.getUTCMonth() === +mo! - 1 && at.getUTCDate() === +d! && +h! < 24 && +mi! < 60 && +s! < 60;
  if (!exact) return undefined;
  return { seq: Number(seq), sealedAtMs, compressed: gz !== undefined, file };
}

/**
 * Temp files the store itself leaves while writing: ".index.json.<pid>.<n>.tmp"
 * (and store.json's) from writeFileAtomic, write-file-atomic's older
 * "<name>.<uint32>" next to index.json and store.json, and ".<segment>...tmp"
 * while compressing or repairing. verify may remove these once they are stale.
 */
export function isStoreTempName(file: string): boolean {
  return /^(index|store|archived)\.json\.\d+$/.test(file) || /^\.(index|store|archived)\.json\.\d+\.\d+\.tmp$/.test(file) || /^\.metrics-\d{8,}.*\.tmp$/.test(file);
}

export interface Position {
  seq: number;
  offset: number;
}

export function comparePositions(a: Position, b: Position): number {
  return a.seq - b.seq || a.offset - b.offset;
}
