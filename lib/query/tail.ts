import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../errors.js';
import { openSnapshot, readFrom, type Cursor, type Snapshot, type StoreContext } from '../store/store.js';
import { entryOf } from './query.js';

export interface TailOptions {
  /** How many entries before the end to start with. */
  last: number;
  /** Keep printing new entries until the signal aborts. */
  follow?: AbortSignal;
  /** Each entry exactly as stored; return false to stop. */
  onEntry(line: string): boolean | void;
  /** After each batch of new entries (flush output). */
  onBatch?: () => void;
  /** Lines that are not JSON objects: never printed, counted. */
  onSkip?: (file: string, line: number) => void;
  /** Between looks for new entries; small, it is one stat and a directory listing. */
  pollMs?: number;
}

const POLL_MS = 200;

/** Entries of one file of a snapshot (a sealed seq or the active one), read whole. */
async function fileEntries(ctx: StoreContext, snap: Snapshot, seq: number, onLine: (line: string, file: string, no: number) => void): Promise<void> {
  const sealed = snap.sealed.filter((s) => s.seq === seq);
  await readFrom(ctx.paths, { ...snap, sealed }, { seq, offset: 0, line: 0 }, (text, at) => onLine(text, at.file, at.line), { untilSeq: seq });
}

/**
 * The last `last` entries, newest files first until enough are found (only
 * the files that hold them are read, each with a ring of `last` lines), then
 * the cursor at the end of the snapshot they came from.
 */
async function lastEntries(ctx: StoreContext, opts: TailOptions): Promise<{ lines: string[]; cursor: Cursor }> {
  const snap = await openSnapshot(ctx.paths);
  try {
    const cursor: Cursor = { seq: snap.activeSeq, offset: snap.active !== undefined ? snap.activeEnd : 0, line: 0 };
    const found: string[][] = [];
    let count = 0;
    const seqs = [snap.activeSeq, ...snap.sealed.map((s) => s.seq).reverse()];
    for (const seq of seqs) {
      if (count >= opts.last) break;
      const ring: string[] = [];
      await fileEntries(ctx, snap, seq, (line, file, no) => {
        if (line.trim() === '') return;
        if (!entryOf(line)) return opts.onSkip?.(file, no);
        ring.push(line);
        // Trimmed in bulk, not per line: shift() per line is quadratic for a large -n.
        if (ring.length >= 2 * opts.last + 1024) ring.splice(0, ring.length - opts.last);
      });
      const take = ring.slice(Math.max(0, ring.length - (opts.last - count)));
      found.unshift(take);
      count += take.length;
    }
    return { lines: found.flat(), cursor };
  } finally {
    await snap.close();
  }
}

/**
 * The last entries, then (with `follow`) every entry appended after them, in
 * store order, each once: across seals (a seal is a rename, so the cursor's
 * offset holds in the sealed file, gzip too), never a torn tail (a snapshot
 * ends at the active file's last newline), never holding a lock.
 */
export async function tail(ctx: StoreContext, opts: TailOptions): Promise<void> {
  let { lines, cursor } = await lastEntries(ctx, opts);
  let open = true;
  for (const line of lines) if (opts.onEntry(line) === false) return;
  opts.onBatch?.();
  const signal = opts.follow;
  if (!signal) return;
  while (open && !signal.aborted) {
    try {
      await sleep(opts.pollMs ?? POLL_MS, undefined, { signal });
    } catch {
      break;
    }
    const snap = await openSnapshot(ctx.paths);
    try {
      cursor = await readFrom(ctx.paths, snap, cursor, (line, at) => {
        if (!open || line.trim() === '') return;
        if (!entryOf(line)) return opts.onSkip?.(at.file, at.line);
        if (opts.onEntry(line) === false) open = false;
      });
    } catch (err) {
      // Retention deleted the segment under the cursor: what it held is gone; go on from the next one.
      const next = snap.sealed.find((s) => s.seq > cursor.seq)?.seq ?? snap.activeSeq;
      if (!(err instanceof StoreError) || snap.sealed.some((s) => s.seq === cursor.seq) || next === cursor.seq) throw err;
      ctx.log.warn({ seq: cursor.seq }, 'tail: the segment being read was deleted (retention); going on from the next one');
      cursor = { seq: next, offset: 0, line: 0 };
    } finally {
      await snap.close();
    }
    opts.onBatch?.();
  }
}
