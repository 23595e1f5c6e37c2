import { randomUUID } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { errnoCode } from '../errors.js';
import type { Logger } from '../log.js';
import { quarantine, writeJsonAtomic } from './files.js';
import type { StorePaths } from './names.js';

/**
 * metrics.segments/store.json: who this store is, and the lowest seq it may
 * still hand out. Nothing is ever rebuilt into it from other files, which is
 * why both live here and not in index.json (derived, rebuilt when lost).
 */
export interface StoreFile {
  version: 1;
  /** Random, made with the store; never changes afterwards. */
  storeId: string;
  createdAt: string;
  /** Highest seq ever sealed (or deleted): a seq at or below it is never handed out again. */
  seqFloor: number;
  /**
   * When the active segment `seq` got its first entry, by the store's clock:
   * interval and time-of-day rotation measure from it.
   */
  active?: { seq: number; openedAt: string };
}

/** What is known of the store's identity, and how it stands. */
export type Identity =
  | { state: 'ok'; file: StoreFile }
  /** No store.json and no copy of an id anywhere: a store from before store.json, or a brand-new one. */
  | { state: 'none' }
  /** store.json is gone or unreadable; `copy` is the storeId index.json keeps, when it does. */
  | { state: 'lost'; damaged: boolean; copy: string | undefined };

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function isStoreFile(x: unknown): x is StoreFile {
  const f = x as StoreFile;
  return typeof f === 'object' && f !== null && f.version === 1 && typeof f.storeId === 'string' && ID_RE.test(f.storeId)
    && Number.isSafeInteger(f.seqFloor) && f.seqFloor >= 0;
}

/** store.json as stored: undefined when absent, 'damaged' when present but not one. */
export function readStoreFile(paths: StorePaths): StoreFile | 'damaged' | undefined {
  const bytes = readNoFollow(paths.storeFile);
  if (bytes === undefined) return undefined;
  try {
    const json: unknown = JSON.parse(bytes.toString('utf8'));
    return isStoreFile(json) ? json : 'damaged';
  } catch {
    return 'damaged';
  }
}

/** The file's bytes, never through a symlink (one there reads as damaged: an empty buffer). */
function readNoFollow(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    if (errnoCode(err) === 'ELOOP') return Buffer.alloc(0);
    throw err;
  }
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The storeId copy a valid-looking index.json keeps (see segment-index.ts). */
export function isStoreId(x: unknown): x is string {
  return typeof x === 'string' && ID_RE.test(x);
}

export function identityOf(paths: StorePaths, indexCopy: string | undefined): Identity {
  const file = readStoreFile(paths);
  if (file !== undefined && file !== 'damaged') return { state: 'ok', file };
  if (file === 'damaged' || indexCopy !== undefined) return { state: 'lost', damaged: file === 'damaged', copy: indexCopy };
  return { state: 'none' };
}

/** The seq floor store.json holds (0 without a readable one). Cheap: one small read. */
export function seqFloor(paths: StorePaths): number {
  const file = readStoreFile(paths);
  return typeof file === 'object' ? file.seqFloor : 0;
}

function write(paths: StorePaths, file: StoreFile, fsync: boolean): void {
  writeJsonAtomic(paths.storeFile, file, fsync);
}

/**
 * Under the writer lock, before any work: make sure store.json exists. A new
 * store (or one from before store.json) gets a new random id; a store whose
 * store.json was lost gets its own id back from index.json's copy, loudly;
 * one with no copy anywhere is left without (verify says so) rather than
 * silently given a new identity. `catalogue` is read only when store.json is
 * not there (a lock holder's usual cost is one small read).
 */
export async function ensureIdentity(
  paths: StorePaths,
  opts: { log: Logger; fsync: boolean; catalogue: () => Promise<{ storeId?: string | undefined; lastSeq: number }> },
): Promise<StoreFile | undefined> {
  const stored = readStoreFile(paths);
  if (typeof stored === 'object') return stored;
  const cat = await opts.catalogue();
  const id = identityOf(paths, cat.storeId);
  if (id.state === 'ok') return id.file;
  if (id.state === 'lost' && id.copy === undefined) {
    opts.log.error({ file: paths.storeFile }, 'store.json is unreadable and no copy of the storeId is left: carrying on without an identity; `verify --repair` gives the store a new one');
    return undefined;
  }
  if (id.state === 'lost' && id.damaged) {
    const saved = await quarantine(paths.corrupt, paths.storeFile, 'damaged', readNoFollow(paths.storeFile) ?? Buffer.alloc(0));
    opts.log.warn({ savedTo: saved }, 'store.json was damaged: moved it to metrics.corrupt/');
  }
  const file: StoreFile = {
    version: 1,
    storeId: id.state === 'lost' ? id.copy! : randomUUID(),
    createdAt: new Date().toISOString(),
    seqFloor: cat.lastSeq,
  };
  write(paths, file, opts.fsync);
  if (id.state === 'lost') opts.log.warn({ storeId: file.storeId }, 'store.json was lost: restored the storeId from index.json');
  return file;
}

/** Make a new identity where none can be recovered (verify --repair, asked for by the user). */
export async function newIdentity(paths: StorePaths, seqFloorNow: number, fsync: boolean): Promise<StoreFile> {
  const damaged = readNoFollow(paths.storeFile);
  if (damaged !== undefined) await quarantine(paths.corrupt, paths.storeFile, 'damaged', damaged);
  const file: StoreFile = { version: 1, storeId: randomUUID(), createdAt: new Date().toISOString(), seqFloor: seqFloorNow };
  write(paths, file, fsync);
  return file;
}

/**
 * Raise the floor to `seq` (caller holds the writer lock): after every seal,
 * and before retention deletes anything, so no seq is handed out twice
 * whatever files are lost later. A store without a readable store.json keeps
 * its floor in index.json only (see ensureIdentity).
 */
export function raiseSeqFloor(paths: StorePaths, seq: number, fsync: boolean): void {
  const file = readStoreFile(paths);
  if (typeof file !== 'object' || file.seqFloor >= seq) return;
  write(paths, { ...file, seqFloor: seq }, fsync);
}

/** Record when the active segment `seq` was opened (its file just created; writer lock held). */
export function noteActiveOpened(paths: StorePaths, seq: number, atMs: number, fsync: boolean): void {
  const file = readStoreFile(paths);
  if (typeof file !== 'object') return;
  write(paths, { ...file, active: { seq, openedAt: new Date(atMs).toISOString() } }, fsync);
}

/** When the active segment `seq` was opened, if store.json recorded it. */
export function activeOpenedAt(paths: StorePaths, seq: number): number | undefined {
  const file = readStoreFile(paths);
  if (typeof file !== 'object' || file.active?.seq !== seq) return undefined;
  const ms = Date.parse(file.active.openedAt);
  return Number.isFinite(ms) ? ms : undefined;
}
