import { randomBytes } from 'node:crypto';
import { linkSync, lstatSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, lstat, rename, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode, ifExists, ifExistsSync } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * metrics.lock: the file appears with its content already in it (written to a
 * temp file, then linked into place; EEXIST means held). A lock is stale when
 * its pid is dead on this host, when its mtime is older than staleMs (holders
 * touch it while they work), or when it stays empty or unreadable for a few
 * seconds.
 */
export interface LockOptions {
  staleMs: number;
  log: Logger;
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

const EMPTY_GRACE_MS = 3000;
/** A takeover marker older than this was left by a crashed taker. */
const TAKEOVER_GRACE_MS = 10_000;
const HOST = hostname();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string') return o as LockOwner;
  } catch {
    // fall through: unreadable content
  }
  return undefined;
}

interface Observed {
  ino: number;
  mtimeMs: number;
  size: number;
  owner: LockOwner | undefined;
}

/** Sync: a lock file is one short line, and every lock and release looks at it. */
function observe(path: string): Observed | undefined {
  const st = ifExistsSync(() => lstatSync(path));
  if (!st) return undefined;
  const text = ifExistsSync(() => readFileSync(path, 'utf8')) ?? '';
  return { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size, owner: parseOwner(text) };
}

function sameLock(a: Observed, b: Observed | undefined): boolean {
  if (!b || a.ino !== b.ino) return false;
  if (a.owner || b.owner) return a.owner?.token === b.owner?.token;
  return a.mtimeMs === b.mtimeMs && a.size === b.size;
}

/** Why a lock is stale, or undefined when it is live. */
function staleReason(o: Observed, staleMs: number, now: number): string | undefined {
  const age = now - o.mtimeMs;
  if (!o.owner) return age > EMPTY_GRACE_MS ? `empty or unreadable for ${Math.round(age)} ms` : undefined;
  if (o.owner.host === HOST && !pidAlive(o.owner.pid)) return `pid ${o.owner.pid} is not running on ${HOST}`;
  if (age > staleMs) return `not touched for ${Math.round(age)} ms (stale after ${staleMs} ms)`;
  return undefined;
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
  writeFileSync(tmp, JSON.stringify(owner), { flag: 'wx' });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, path);
        return holdLock(path, owner, opts.staleMs);
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      const seen = observe(path);
      if (!seen) continue;
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
  return o.owner ? `pid ${o.owner.pid} on ${o.owner.host} since ${o.owner.time}` : 'an unreadable lock file';
}

function holdLock(path: string, owner: LockOwner, staleMs: number): HeldLock {
  // Touch the lock while held so long work (a big fold) is not mistaken for a dead holder.
  const beat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(250, Math.floor(staleMs / 3)));
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
