import { createHash, type Hash } from 'node:crypto';
import { closeSync, readdirSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ifExistsSync, StoreError } from '../errors.js';
import { basename, join } from 'node:path';
import { checksummedJson, readChecksummedJson, unlinkIfExists, writeFileAtomic } from '../store/files.js';
import { closeBlocks, openSegment, readBlocks, type ActiveFile, type Cursor, type Snapshot, type StorePaths, type WriteSite } from '../store/store.js';
import type { Reducer } from './reducer.js';

/** Lines a pass looked at, by what became of them. */
export interface Counts {
  /** Non-blank lines read. */
  lines: number;
  malformed: number;
  invalid: number;
  duplicates: number;
  /** Lines counted as runs. */
  runs: number;
}

export function zeroCounts(): Counts {
  return { lines: 0, malformed: 0, invalid: 0, duplicates: 0, runs: 0 };
}

/**
 * The bytes just before the cursor, and the first bytes of its file: if they
 * change, the history under the cursor changed. The head catches a file
 * replaced or rewritten from the start (a restore, a legacy tool); reading
 * only these two windows keeps the check's cost flat.
 */
export interface Fingerprint {
  seq: number;
  offset: number;
  tailBytes: number;
  tailSha256: string;
  headBytes: number;
  headSha256: string;
}

/** metrics/aggregate-state.json: where a pass stopped and what it knew there. */
export interface Checkpoint {
  version: 1;
  reducer: { name: string; version: number };
  cursor: Cursor;
  fingerprint: Fingerprint;
  counts: Counts;
  state: unknown;
  /** The <out> this pass wrote mttr-delta.json and state.json under (absolute). */
  out?: string;
  /** The active file the cursor is in (its seq and identity): while it still is, the next pass need not list the segments. */
  active?: ActiveFile;
  updatedAt: string;
}

/** metrics/retained-base.json: the reducer folded over every segment retention deleted. */
export interface RetainedBase {
  version: 1;
  reducer: { name: string; version: number };
  /** Every segment with seq <= this is folded in (and may be gone). */
  seq: number;
  counts: Counts;
  state: unknown;
  updatedAt: string;
  /**
   * Set when a base that could not be upgraded was superseded
   * (`aggregate --rebuild --accept-partial`): this base then starts empty at
   * `seq`, and the outputs cover only segments from `fromSeq` on.
   */
  partial?: { fromSeq: number; superseded: string; reducer: { name: string; version: number } };
}

/**
 * A retained base folded by another version of the reducer, which `upgrade`
 * could not bring forward, while the segments it covers are gone.
 */
export class ReducerMismatchError extends StoreError {
  constructor(
    readonly path: string,
    readonly base: RetainedBase,
    reducer: Reducer<unknown>,
    why: string,
  ) {
    super(
      `${path} was folded by reducer ${base.reducer?.name} v${base.reducer?.version}; ${reducer.name} v${reducer.version} cannot rebuild the segments it covers ` +
        `(1..${base.seq}, deleted by retention and nowhere else): it ${why}. ` +
        `Way out: \`codex-metrics aggregate --rebuild --accept-partial\` (API: aggregate({ rebuild: true, acceptPartial: true })) rebuilds from the segments that are left; ` +
        `the outputs then cover segments ${base.seq + 1} onward only, and the old base is kept beside the new one`,
    );
  }
}

const TAIL = 4096;

/** The built-in reducer keeps the contract's file names; others get their own. */
function fileFor(paths: StorePaths, stem: string, reducer: Reducer<unknown>, ext = '.json'): string {
  const suffix = reducer.name === 'orchestrator' ? '' : `.${reducer.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return join(paths.metrics, `${stem}${suffix}${ext}`);
}

export const checkpointPath = (paths: StorePaths, reducer: Reducer<unknown>) => fileFor(paths, 'aggregate-state', reducer);
export const basePath = (paths: StorePaths, reducer: Reducer<unknown>) => fileFor(paths, 'retained-base', reducer);
/**
 * One run-id index per reducer, like its checkpoint: a rebuild purges the
 * index, and a rebuild of one reducer that dies half way must not leave
 * another reducer's checkpoint trusting a half-purged index.
 */
export const runIdsPath = (paths: StorePaths, reducer: Reducer<unknown>) => fileFor(paths, 'run-ids', reducer, '');

function isCursor(c: unknown): c is Cursor {
  const x = c as Cursor;
  return typeof x === 'object' && x !== null && [x.seq, x.offset, x.line].every((n) => Number.isSafeInteger(n) && n >= 0);
}

function isCounts(c: unknown): c is Counts {
  const x = c as Counts;
  return typeof x === 'object' && x !== null && [x.lines, x.malformed, x.invalid, x.duplicates, x.runs].every(Number.isSafeInteger);
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; reason: string } | undefined;

export async function loadCheckpoint(paths: StorePaths, reducer: Reducer<unknown>): Promise<Loaded<Checkpoint>> {
  const read = readChecksummedJson(checkpointPath(paths, reducer));
  if (read === undefined) return undefined;
  if (!read.ok) return { ok: false, reason: `checkpoint is damaged: ${read.reason}` };
  const cp = read.value as Checkpoint;
  if (cp.version !== 1 || !isCursor(cp.cursor) || !isCounts(cp.counts) || typeof cp.fingerprint !== 'object' || cp.fingerprint === null) {
    return { ok: false, reason: 'checkpoint has an unknown shape' };
  }
  if (cp.reducer?.name !== reducer.name || cp.reducer?.version !== reducer.version) {
    return { ok: false, reason: `checkpoint was written by reducer ${cp.reducer?.name} v${cp.reducer?.version}, not ${reducer.name} v${reducer.version}` };
  }
  return { ok: true, value: cp };
}

/** A retained base that cannot be trusted: it alone holds the deleted history, so nothing rebuilds it. */
export function damagedBaseError(path: string, reason: string): StoreError {
  return new StoreError(`${path} is damaged (${reason}); it holds the folded history of every segment retention deleted, which cannot be rebuilt from what is left: restore this file from a backup, then run again (nothing was changed)`);
}

/** The checkpoint's active file, when it is well formed and the cursor is in it. */
export function activeFileOf(cp: Checkpoint): ActiveFile | undefined {
  const a = cp.active;
  return typeof a === 'object' && a !== null && a.seq === cp.cursor.seq && typeof a.id === 'string' ? { seq: a.seq, id: a.id } : undefined;
}

export async function loadBase(paths: StorePaths, reducer: Reducer<unknown>): Promise<RetainedBase | undefined> {
  const path = basePath(paths, reducer);
  const read = readChecksummedJson(path);
  if (read === undefined) return undefined;
  if (!read.ok) throw damagedBaseError(path, read.reason);
  const json = read.value as RetainedBase;
  if (json.version !== 1 || !Number.isSafeInteger(json.seq) || !isCounts(json.counts)) throw damagedBaseError(path, 'unknown shape');
  if (json.reducer?.name === reducer.name && json.reducer?.version === reducer.version) return json;
  return upgradeBase(path, json, reducer);
}

/** The base carried forward by the reducer's `upgrade`, or the error that names the way out. */
function upgradeBase(path: string, base: RetainedBase, reducer: Reducer<unknown>): RetainedBase {
  const from = base.reducer?.version;
  if (base.reducer?.name !== reducer.name || typeof from !== 'number' || from > reducer.version) {
    throw new ReducerMismatchError(path, base, reducer, 'cannot read that state');
  }
  if (!reducer.upgrade) throw new ReducerMismatchError(path, base, reducer, `has no upgrade from v${from}`);
  try {
    const state = reducer.upgrade(base.state, from);
    // What fromJSON cannot read is no upgrade.
    reducer.fromJSON(state);
    return { ...base, reducer: { name: reducer.name, version: reducer.version }, state };
  } catch (err) {
    throw new ReducerMismatchError(path, base, reducer, `could not upgrade it from v${from} (${(err as Error).message})`);
  }
}

/**
 * The way out of a ReducerMismatchError, asked for by the user: keep the old
 * base beside the new one, then replace it with an empty base of this
 * version at the same seq, marked partial. Undefined when the base needs no
 * superseding. Each step is atomic: a crash leaves the old base (the error
 * again, and the way out again) or the new one.
 */
export async function supersedeBase(paths: StorePaths, reducer: Reducer<unknown>, fsync: boolean, now: string): Promise<RetainedBase | undefined> {
  let old: RetainedBase;
  try {
    await loadBase(paths, reducer);
    return undefined;
  } catch (err) {
    if (!(err instanceof ReducerMismatchError)) throw err;
    old = err.base;
  }
  const path = basePath(paths, reducer);
  const kept = `${path.replace(/\.json$/, '')}.v${old.reducer?.version}-superseded-${now.replace(/[-:.]/g, '')}.json`;
  saveBase(kept, old, fsync);
  const next: RetainedBase = {
    version: 1,
    reducer: { name: reducer.name, version: reducer.version },
    seq: old.seq,
    counts: zeroCounts(),
    state: reducer.toJSON(reducer.init()),
    updatedAt: now,
    partial: { fromSeq: old.seq + 1, superseded: basename(kept), reducer: old.reducer },
  };
  saveBase(path, next, fsync);
  return next;
}

/**
 * The checkpoint: checksummed, fsynced per policy. Its directory entry is not
 * synced: a rename lost to a power cut leaves the previous checkpoint, which
 * the run-id index and the outputs tolerate (a replay).
 */
export function saveCheckpoint(path: string, value: Checkpoint, fsync: boolean): void {
  writeFileAtomic(path, Buffer.from(checksummedJson(value)), { fsync });
}

/** The retained base: durable, name included, before retention deletes what it covers. */
export function saveBase(path: string, value: RetainedBase, fsync: boolean): void {
  writeFileAtomic(path, Buffer.from(checksummedJson(value)), { fsync, fsyncDir: fsync });
}

export async function dropCheckpoint(paths: StorePaths, reducer: Reducer<unknown>): Promise<void> {
  await unlinkIfExists(checkpointPath(paths, reducer), 'json');
}

/**
 * Drop every reducer's checkpoint, after history under them was rewritten (a
 * repaired segment, a flatten): the next aggregate of each rebuilds. Returns
 * the names dropped. Caller holds the aggregate lock.
 */
/** The checkpoints under metrics/, one per reducer ever aggregated here (file names). */
export function checkpointNames(paths: StorePaths): string[] {
  return (ifExistsSync(() => readdirSync(paths.metrics)) ?? []).filter((f) => /^aggregate-state(\..+)?\.json$/.test(f));
}

export async function dropAllCheckpoints(paths: StorePaths, site: WriteSite = 'json'): Promise<string[]> {
  const dropped: string[] = [];
  for (const n of checkpointNames(paths)) {
    if (await unlinkIfExists(join(paths.metrics, n), site)) dropped.push(n);
  }
  return dropped;
}

/** Whether two fingerprints describe the same bytes under the cursor. */
export function sameFingerprint(a: Fingerprint, b: Partial<Fingerprint>): boolean {
  return a.tailBytes === b.tailBytes && a.tailSha256 === b.tailSha256 && a.headBytes === b.headBytes && a.headSha256 === b.headSha256;
}

/**
 * Hashes of the up-to-4 KiB before `cursor` and of the first up-to-4 KiB of
 * its file, or undefined when the file is gone or shorter than the cursor.
 */
export async function fingerprintAt(paths: StorePaths, snap: Snapshot, cursor: Cursor): Promise<Fingerprint | undefined> {
  const tailBytes = Math.min(TAIL, cursor.offset);
  const from = cursor.offset - tailBytes;
  const headBytes = Math.min(TAIL, cursor.offset);
  const tail = createHash('sha256');
  const head = createHash('sha256');
  const done = (): Fingerprint => ({ seq: cursor.seq, offset: cursor.offset, tailBytes, tailSha256: tail.digest('hex'), headBytes, headSha256: head.digest('hex') });
  if (cursor.offset === 0) return done();
  let fd: number;
  let compressed = false;
  let owned = false;
  if (cursor.seq === snap.activeSeq) {
    if (snap.active === undefined) return undefined;
    fd = snap.active;
  } else {
    const sealed = snap.sealed.find((x) => x.seq === cursor.seq);
    if (!sealed) return undefined;
    const opened = ifExistsSync(() => openSegment(paths, sealed));
    if (!opened) return undefined;
    ({ fd, compressed } = opened);
    owned = true;
  }
  try {
    if (!compressed) {
      // Two 4 KiB reads on every run: synchronous, no thread-pool trips.
      const buf = Buffer.alloc(tailBytes);
      if (readSync(fd, buf, 0, tailBytes, from) < tailBytes) return undefined;
      tail.update(buf);
      const hbuf = Buffer.alloc(headBytes);
      if (readSync(fd, hbuf, 0, headBytes, 0) < headBytes) return undefined;
      head.update(hbuf);
      return done();
    }
    return await compressedFingerprint(fd, cursor, from, headBytes, tail, head, done);
  } finally {
    if (owned) closeSync(fd);
  }
}

/** Compressed: no random access, so decompress up to the cursor (once per seal). */
async function compressedFingerprint(
  fd: number,
  cursor: Cursor,
  from: number,
  headBytes: number,
  tail: Hash,
  head: Hash,
  done: () => Fingerprint,
): Promise<Fingerprint | undefined> {
  let seen = 0;
  // Loaded here, not at start-up: only a compressed segment needs zlib.
  const { createGunzip } = await import('node:zlib');
  const source = Readable.from(readBlocks(fd));
  try {
    for await (const chunk of source.pipe(createGunzip()) as AsyncIterable<Buffer>) {
      const lo = Math.max(from - seen, 0);
      const hi = Math.min(cursor.offset - seen, chunk.length);
      if (hi > lo) tail.update(chunk.subarray(lo, hi));
      if (seen < headBytes) head.update(chunk.subarray(0, Math.min(headBytes - seen, chunk.length)));
      seen += chunk.length;
      if (seen >= cursor.offset) break;
    }
  } catch {
    return undefined;
  } finally {
    // The caller closes the descriptor next.
    await closeBlocks(source);
  }
  if (seen < cursor.offset) return undefined;
  return done();
}
