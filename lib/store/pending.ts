import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, rename } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ifExists, ifExistsSync } from '../errors.js';
import { fsyncDir } from './files.js';
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
  const names = lines.map(() => pendingName());
  for (const [i, name] of names.entries()) {
    const fh = await open(join(paths.pending, `.${name}.tmp`), 'wx');
    try {
      await fh.writeFile(`${lines[i]}\n`);
      if (fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  }
  for (const name of names) await rename(join(paths.pending, `.${name}.tmp`), join(paths.pending, name));
  if (fsync) fsyncDir(paths.pending);
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

export function mergingName(original: string, at: Position): string {
  return `${original}.merging-${at.seq}-${at.offset}`;
}

export async function listPending(paths: StorePaths): Promise<{ ready: string[]; merging: MergingFile[]; temps: string[] }> {
  const names = ifExistsSync(() => readdirSync(paths.pending)) ?? [];
  const ready: string[] = [];
  const merging: MergingFile[] = [];
  const temps: string[] = [];
  for (const n of names) {
    const m = MERGING_RE.exec(n);
    if (m) merging.push({ file: n, original: m[1]!, at: { seq: Number(m[2]), offset: Number(m[3]) } });
    else if (n.endsWith('.jsonl') && !n.startsWith('.')) ready.push(n);
    else if (n.startsWith('.') && n.endsWith('.jsonl.tmp')) temps.push(n);
  }
  ready.sort();
  merging.sort((a, b) => (a.original < b.original ? -1 : 1));
  return { ready, merging, temps };
}

/**
 * A spill's temp file that was never renamed belongs to a writer that died
 * before acknowledging: its entries were never promised, so they are not
 * merged, but they are not dropped either. Once older than `olderThanMs` (no
 * live writer takes that long between write and rename) they go to
 * metrics.corrupt/ for a person to look at.
 */
export async function quarantineStaleSpills(paths: StorePaths, temps: readonly string[], olderThanMs: number): Promise<string[]> {
  const moved: string[] = [];
  const now = Date.now();
  for (const t of temps) {
    const from = join(paths.pending, t);
    const st = await ifExists(() => lstat(from));
    if (!st?.isFile() || now - st.mtimeMs <= olderThanMs) continue;
    await mkdir(paths.corrupt, { recursive: true });
    const to = join(paths.corrupt, `metrics.pending.unacknowledged.${t.slice(1, -'.tmp'.length)}`);
    if (await ifExists(async () => {
      await rename(from, to);
      return true;
    })) moved.push(to);
  }
  return moved;
}

export async function claimForMerge(paths: StorePaths, name: string, at: Position): Promise<string> {
  const to = mergingName(name, at);
  await rename(join(paths.pending, name), join(paths.pending, to));
  return to;
}
