import { randomBytes } from 'node:crypto';
import { linkSync, lstatSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { link, lstat, rename, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode, ifExists, ifExistsSync } from '../errors.js';
import type { Logger } from '../log.js';
import { writeNewFile } from './files.js';
import { LOCK_REFRESH_MS } from './lock-timing.js';

/**
 * metrics.lock: the file appears with its content already in it (written to a
 * temp file, then linked into place; EEXIST means held). Ours is stale when its
 * pid is dead on this host, or, held from another host, when its mtime is older
 * than staleMs (holders touch it while they work). A live pid on this host is
 * never stale by age: clocks jump. Any other content (the orchestrator's
 * writers: a bare UUID, "locked", its owner record; an empty file) is foreign
 * and judged as the orchestrator judges it: stale only by age.
 */
export interface LockOptions {
  staleMs: number;
  log: Logger;
  /** Told what a busy lock held in a foreign format looks like (traces of old writers). */
  onForeign?: (description: string) => void;
}

export interface LockOwner {
  pid: number;
  host: string;
  time: string;
  token: string;
}

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

/** A takeover marker older than this was left by a crashed taker. */
const TAKEOVER_GRACE_MS = 10_000;
const HOST = hostname();

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/** Our own format: exactly the four fields we write (the orchestrator's owner record has more, and a "kind"). */
function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner> & { kind?: unknown };
    if (o.kind === undefined && typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string' && typeof o.time === 'string') return o as LockOwner;
  } catch {
    // fall through: foreign content
  }
  return undefined;
}

/** What a foreign lock is, for people: the orchestrator's formats by name. */
export function describeForeign(text: string): string {
  const t = text.trim();
  if (t === '') return 'an empty lock file';
  if (t === 'locked') return 'the word "locked" (the orchestrator\'s tests and old writers)';
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(t)) return 'a bare UUID (the orchestrator\'s older writers)';
  try {
    const o = JSON.parse(t) as Record<string, unknown>;
    if (o['kind'] === 'codex-lock-owner') return `the orchestrator's lock of pid ${String(o['pid'])} on ${String(o['host'])}`;
  } catch {
    // not JSON
  }
  return `a lock file in an unknown format (${JSON.stringify(t.slice(0, 40))})`;
}

interface Observed {
  ino: number;
  mtimeMs: number;
  size: number;
  owner: LockOwner | undefined;
  /** The content, when it is not ours. */
  foreign: string | undefined;
}

/** Sync: a lock file is one short line, and every lock and release looks at it. */
function observe(path: string): Observed | undefined {
  const st = ifExistsSync(() => lstatSync(path));
  if (!st) return undefined;
  // A symlink is never followed: it is a foreign lock of unknown content.
  const text = st.isFile() ? (ifExistsSync(() => readFileSync(path, 'utf8')) ?? '') : `(not a regular file)`;
  const owner = parseOwner(text);
  return { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size, owner, foreign: owner ? undefined : text };
}

function sameLock(a: Observed, b: Observed | undefined): boolean {
  if (!b || a.ino !== b.ino) return false;
  if (a.owner || b.owner) return a.owner?.token === b.owner?.token;
  return a.mtimeMs === b.mtimeMs && a.size === b.size;
}

/** Why a lock is stale, or undefined when it is live. */
function staleReason(o: Observed, staleMs: number, now: number): string | undefined {
  if (o.owner?.host === HOST) return pidAlive(o.owner.pid) ? undefined : `pid ${o.owner.pid} is not running on ${HOST}`;
  const age = now - o.mtimeMs;
  if (age <= staleMs) return undefined;
  const what = o.owner ? `held from ${o.owner.host}` : describeForeign(o.foreign ?? '');
  return `${what}, not touched for ${Math.round(age)} ms (stale after ${staleMs} ms)`;
}

/**
 * Remove a lock we judged stale, so that two processes judging the same stale
 * lock cannot both remove it, nor remove a fresh lock that replaced it: the
 * removal of one observed lock is claimed with an exclusive marker named after
 * it, and what we move away is checked to be what we judged. The marker is a
 * link to our own filled-in lock candidate, so it says who claimed: a claim
 * whose taker died on this host is cleared at once instead of blocking every
 * writer for the grace period.
 */
async function takeOver(path: string, judged: Observed, reason: string, log: Logger, candidate: string): Promise<void> {
  const marker = `${path}.takeover-${judged.ino}-${Math.floor(judged.mtimeMs)}`;
  try {
    await link(candidate, marker);
  } catch (err) {
    // Our candidate swept away meanwhile (see tryLock): no claim made, nothing to undo.
    if (errnoCode(err) === 'ENOENT') return;
    if (errnoCode(err) !== 'EEXIST') throw err;
    const claim = observe(marker);
    if (!claim) return;
    const takerDead = claim.owner !== undefined && claim.owner.host === HOST && !pidAlive(claim.owner.pid);
    if (takerDead || Date.now() - claim.mtimeMs > TAKEOVER_GRACE_MS) {
      await ifExists(() => unlink(marker));
      log.warn({ marker, owner: claim.owner }, 'cleared the takeover claim of a writer that died taking over');
    }
    return;
  }
  try {
    if (!sameLock(judged, observe(path))) return;
    const moved = `${path}.stale-${randomBytes(6).toString('hex')}`;
    // rename() resolves to undefined, so say "done" explicitly: ifExists gives undefined only for ENOENT.
    const movedAway = await ifExists(async () => {
      await rename(path, moved);
      return true;
    });
    if (!movedAway) return;
    const removed = observe(moved);
    if (!sameLock(judged, removed)) {
      // A fresh lock replaced the stale one between our look and the rename: put it back.
      await ifExists(() => link(moved, path)).catch(() => undefined);
      await ifExists(() => unlink(moved));
      return;
    }
    await ifExists(() => unlink(moved));
    log.warn({ lock: path, owner: judged.owner, reason }, 'took over stale lock');
  } finally {
    await ifExists(() => unlink(marker));
  }
}

/**
 * Writers killed while taking the lock leave files beside it: their filled-in
 * candidate ("<lock>.<token>.tmp"), a takeover claim, a stale lock moved
 * aside. Only the holder sweeps, and only what a dead or long-gone writer left.
 */
export async function sweepLockLitter(path: string, log: Logger): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const names = (ifExistsSync(() => readdirSync(dir)) ?? []).filter((n) => n.startsWith(prefix));
  const now = Date.now();
  for (const name of names) {
    const rest = name.slice(prefix.length);
    const file = join(dir, name);
    let gone = false;
    if (/^[0-9a-f]{16}\.tmp$/.test(rest) || rest.startsWith('takeover-')) {
      const o = observe(file);
      if (!o) continue;
      gone = o.owner ? o.owner.host === HOST && !pidAlive(o.owner.pid) : now - o.mtimeMs > TAKEOVER_GRACE_MS;
      if (!gone && rest.startsWith('takeover-')) gone = now - o.mtimeMs > TAKEOVER_GRACE_MS;
    } else if (rest.startsWith('stale-')) {
      // Moved aside by a taker: the rename set its ctime, and a live taker removes it within moments.
      const st = await ifExists(() => lstat(file));
      gone = st !== undefined && now - st.ctimeMs > TAKEOVER_GRACE_MS;
    }
    if (gone && (await ifExists(async () => {
      await unlink(file);
      return true;
    }))) {
      log.info({ file: name }, 'removed lock litter left by a dead writer');
    }
  }
}

/** One attempt, including the takeover of a stale lock. */
export async function tryLock(path: string, opts: LockOptions): Promise<HeldLock | undefined> {
  const owner: LockOwner = { pid: process.pid, host: HOST, time: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const tmp = `${path}.${owner.token}.tmp`;
  // Sync calls for the uncontended path (a few microseconds each instead of a thread-pool trip).
  writeNewFile(tmp, Buffer.from(JSON.stringify(owner)), 'lock');
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, path);
        return holdLock(path, owner, opts.staleMs);
      } catch (err) {
        // ENOENT: a holder swept our candidate as litter (its clock runs ahead, and an empty
        // candidate has only its mtime to go by). Busy for this try; the next makes a new one.
        if (errnoCode(err) === 'ENOENT') return undefined;
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      const seen = observe(path);
      if (!seen) continue;
      if (seen.foreign !== undefined) opts.onForeign?.(describeForeign(seen.foreign));
      const reason = staleReason(seen, opts.staleMs, Date.now());
      if (!reason) return undefined;
      await takeOver(path, seen, reason, opts.log, tmp);
    }
    return undefined;
  } finally {
    ifExistsSync(() => unlinkSync(tmp));
  }
}

/** Retry with jittered backoff until `waitMs` has passed; undefined when still busy. */
export async function lock(path: string, opts: LockOptions & { waitMs: number }): Promise<HeldLock | undefined> {
  const deadline = Date.now() + opts.waitMs;
  let delay = 2;
  for (;;) {
    const held = await tryLock(path, opts);
    if (held || Date.now() >= deadline) return held;
    await sleep(Math.min(delay * (0.5 + Math.random()), Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 50);
  }
}

export async function describeHolder(path: string): Promise<string> {
  const o = observe(path);
  if (!o) return 'no holder';
  return o.owner ? `pid ${o.owner.pid} on ${o.owner.host} since ${o.owner.time}` : `${describeForeign(o.foreign ?? '')}, last touched ${new Date(o.mtimeMs).toISOString()}`;
}

function holdLock(path: string, owner: LockOwner, staleMs: number): HeldLock {
  // Touch the lock while held so long work (a big fold) is not mistaken for a dead holder.
  const beat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(LOCK_REFRESH_MS, Math.floor(staleMs / 3)));
  beat.unref();
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      const seen = observe(path);
      // Only remove our own lock: a holder judged stale may already have been replaced.
      if (seen?.owner?.token === owner.token) ifExistsSync(() => unlinkSync(path));
    },
  };
}
