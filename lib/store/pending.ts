import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { closeSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { diskFullAs, errnoCode, ifExists, ifExistsSync } from '../errors.js';
import { isJsonObject } from './entries.js';
import { createExclusive, fsyncDir, unlinkIfExists, writeAll } from './files.js';
import { fileSystem } from './fs-env.js';
import { pidAlive } from './lock.js';
import type { Position, StorePaths } from './names.js';

/**
 * metrics.pending/: when the writer lock stays busy, entries are spilled here
 * and the next lock holder merges the files in name order. Names start with
 * the time, then pid and a per-process counter, so name order is arrival order.
 */
let counter = 0;

function pendingName(): string {
  return `${String(Date.now()).padStart(15, '0')}-${String(process.pid).padStart(8, '0')}-${String(++counter).padStart(9, '0')}-${randomBytes(3).toString('hex')}.jsonl`;
}

/**
 * One file per entry, as the layout says. Every file is written under a temp
 * name first and renamed only once all of them are complete, so a crash
 * leaves at most a prefix of the batch, never a torn entry.
 */
export async function spill(paths: StorePaths, lines: readonly string[], fsync: boolean): Promise<string[]> {
  await mkdir(paths.pending, { recursive: true });
  const fs = fileSystem();
  const names = lines.map(() => pendingName());
  const temps: string[] = [];
  try {
    for (const [i, name] of names.entries()) {
      const tmp = join(paths.pending, `.${name}.tmp`);
      const fd = createExclusive(tmp, 'spill');
      temps.push(tmp);
      try {
        writeAll(fd, Buffer.from(`${lines[i]}\n`), 'spill');
        if (fsync) fs.fsync(fd, 'spill');
      } finally {
        closeSync(fd);
      }
    }
  } catch (err) {
    // Nothing of the batch was acknowledged: take its temps back rather than leave them for quarantine.
    for (const t of temps) ifExistsSync(() => fs.unlink(t, 'spill'));
    throw diskFullAs(paths.pending, err);
  }
  for (const name of names) fs.rename(join(paths.pending, `.${name}.tmp`), join(paths.pending, name), 'spill');
  if (fsync) fsyncDir(paths.pending, 'spill');
  return names;
}

/**
 * A pending file being merged is renamed to carry where its first line went:
 * "<name>.merging-<seq>-<offset>". If the merger dies, the next holder counts
 * the lines already at that position and appends only the rest.
 */
export interface MergingFile {
  file: string;
  original: string;
  at: Position;
}

const MERGING_RE = /^(.+\.jsonl)\.merging-(\d+)-(\d+)$/;
/** What spill() names its files: anything else in metrics.pending/ was spilled by another writer. */
const OWN_SPILL_RE = /^\.?\d{15}-(\d{8})-\d{9}-[0-9a-f]{6}\.jsonl(?:\.tmp)?$/;

export function mergingName(original: string, at: Position): string {
  return `${original}.merging-${at.seq}-${at.offset}`;
}

export interface PendingListing {
  /** Spills to merge, in name order (ours and the orchestrator's "<run_id>-<ms>-<uuid>.jsonl" alike). */
  ready: string[];
  merging: MergingFile[];
  /** "*.jsonl.tmp": a spill not yet renamed into place (its writer is at it, or died). */
  temps: string[];
  /** Never merged, read or followed. */
  symlinks: string[];
  /** Spill names this project does not write: the orchestrator's own recorder is at work here. */
  foreignSpills: string[];
}

export async function listPending(paths: StorePaths): Promise<PendingListing> {
  const entries = ifExistsSync(() => readdirSync(paths.pending, { withFileTypes: true })) ?? [];
  const out: PendingListing = { ready: [], merging: [], temps: [], symlinks: [], foreignSpills: [] };
  for (const e of entries) {
    const n = e.name;
    if (e.isSymbolicLink()) {
      out.symlinks.push(n);
      continue;
    }
    if (!e.isFile()) continue;
    const m = MERGING_RE.exec(n);
    if (m) {
      out.merging.push({ file: n, original: m[1]!, at: { seq: Number(m[2]), offset: Number(m[3]) } });
      continue;
    }
    if (n.endsWith('.jsonl')) out.ready.push(n);
    else if (n.endsWith('.jsonl.tmp')) out.temps.push(n);
    else continue;
    if (!OWN_SPILL_RE.test(n)) out.foreignSpills.push(n);
  }
  out.ready.sort();
  out.merging.sort((a, b) => (a.original < b.original ? -1 : 1));
  return out;
}

/** A spill's entries: every line that is not blank, the last one too if its newline is missing. */
export function spillLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** Read a spill without following a symlink put in its place. */
export async function readSpill(path: string): Promise<string | undefined> {
  const fh = await ifExists(() => open(path, constants.O_RDONLY | constants.O_NOFOLLOW));
  if (!fh) return undefined;
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

export interface SettledTemps {
  /** Renamed into place to be merged: every line a complete JSON object. */
  promoted: string[];
  /** Moved to metrics.corrupt/ (where they went). */
  quarantined: string[];
  /** Empty: nothing to keep. */
  removed: string[];
}

/**
 * A temp spill older than `olderThanMs` belongs to a writer that died between
 * writing it and renaming it (no live writer takes that long). When every line
 * is a complete JSON object it was fully written, and it is merged, as the
 * orchestrator's merge does; anything else goes to metrics.corrupt/, never
 * dropped. Younger temps are left to their writer. Caller holds the writer lock.
 */
export async function settleStaleTemps(paths: StorePaths, temps: readonly string[], olderThanMs: number): Promise<SettledTemps> {
  const out: SettledTemps = { promoted: [], quarantined: [], removed: [] };
  const now = Date.now();
  for (const t of temps) {
    const from = join(paths.pending, t);
    const st = await ifExists(() => lstat(from));
    if (!st?.isFile() || now - st.mtimeMs <= olderThanMs) continue;
    // Ours name their writer: one still running here is at it, whatever the clocks say.
    const writer = OWN_SPILL_RE.exec(t)?.[1];
    if (writer !== undefined && pidAlive(Number(writer))) continue;
    const text = await readSpill(from);
    if (text === undefined) continue;
    const lines = spillLines(text);
    if (lines.length > 0 && lines.every(isJsonObject)) {
      out.promoted.push(await promote(paths, t));
    } else if (st.size === 0) {
      if (await unlinkIfExists(from, 'spill')) out.removed.push(t);
    } else {
      await mkdir(paths.corrupt, { recursive: true });
      const to = join(paths.corrupt, `metrics.pending.unfinished.${t.replace(/^\./, '').slice(0, -'.tmp'.length)}`);
      if (await ifExists(async () => {
        await rename(from, to);
        return true;
      })) out.quarantined.push(to);
    }
  }
  return out;
}

/** "<name>.jsonl.tmp" becomes "<name>.jsonl", never replacing a file of that name. */
async function promote(paths: StorePaths, temp: string): Promise<string> {
  const from = join(paths.pending, temp);
  let name = temp.slice(0, -'.tmp'.length);
  try {
    await link(from, join(paths.pending, name));
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
    name = `${name.slice(0, -'.jsonl'.length)}.recovered-${randomBytes(4).toString('hex')}.jsonl`;
    await link(from, join(paths.pending, name));
  }
  await unlink(from);
  return name;
}

export async function claimForMerge(paths: StorePaths, name: string, at: Position): Promise<string> {
  const to = mergingName(name, at);
  fileSystem().rename(join(paths.pending, name), join(paths.pending, to), 'merge');
  return to;
}
