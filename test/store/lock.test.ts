import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { lutimes, readdir, readFile, rename, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unlinkSync } from 'node:fs';
import { realFileSystem, useFileSystem } from '../../lib/store/fs-env.js';
import { lock, tryLock, type LockOptions } from '../../lib/store/lock.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { idsOf, openRecorder, readStore } from '../helpers/store.js';

/** The pid of a process that has exited (so is dead on this host). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

async function ageBy(path: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(path, then, then);
}

describe('store/lock', () => {
  const tmp = useTmpDir();
  const path = () => join(tmp.dir, 'metrics.lock');
  const opts = (staleMs = 300_000): LockOptions => ({ staleMs, log: quietLog });
  const owner = async () => JSON.parse(await readFile(path(), 'utf8')) as { pid: number; host: string; time: string; token: string };
  const writeOwner = (o: Record<string, unknown>) => writeFile(path(), JSON.stringify({ time: new Date().toISOString(), token: 'theirs', ...o }));
  /** Only the lock itself may be left: no temp, marker or moved-aside files. */
  const leftovers = async () => (await readdir(tmp.dir)).filter((n) => n !== 'metrics.lock');

  it('a candidate swept away before it is linked (by a holder whose clock runs ahead) is a busy try, not a failure', async () => {
    // The sweeper's unlink lands between the candidate's creation and its link, as in the storm test.
    let sweeps = 2;
    const restore = useFileSystem({
      ...realFileSystem,
      open(file, flags, mode, site) {
        const fd = realFileSystem.open(file, flags, mode, site);
        if (site === 'lock' && sweeps-- > 0) unlinkSync(file);
        return fd;
      },
    });
    try {
      expect(await tryLock(path(), opts())).to.equal(undefined);
      const held = await lock(path(), { ...opts(), waitMs: 2_000 });
      expect(held, 'taken on a later try').to.not.equal(undefined);
      expect((await owner()).pid).to.equal(process.pid);
      await held!.release();
      expect(await readdir(tmp.dir)).to.deep.equal([]);
    } finally {
      restore();
    }
  });

  it('creates the lock with pid, host, time and token already in it, and removes it on release', async () => {
    const held = await tryLock(path(), opts());
    expect(held).to.not.equal(undefined);
    const o = await owner();
    expect(o.pid).to.equal(process.pid);
    expect(o.host).to.equal(hostname());
    expect(Date.parse(o.time)).to.be.closeTo(Date.now(), 60_000);
    expect(o.token).to.be.a('string').and.not.equal('');
    expect(await leftovers()).to.deep.equal([]);
    await held!.release();
    expect(await readdir(tmp.dir)).to.deep.equal([]);
  });

  it('does not take a live lock, even one held by this very process', async () => {
    const held = await tryLock(path(), opts());
    const token = (await owner()).token;
    expect(await tryLock(path(), opts())).to.equal(undefined);
    expect((await owner()).token).to.equal(token);
    expect(await leftovers()).to.deep.equal([]);
    await held!.release();
  });

  it('takes over a lock whose pid is dead on this host', async () => {
    await writeOwner({ pid: await deadPid(), host: hostname() });
    const held = await tryLock(path(), opts());
    expect(held).to.not.equal(undefined);
    expect((await owner()).pid).to.equal(process.pid);
    expect(await leftovers()).to.deep.equal([]);
    await held!.release();
  });

  it('does not judge the pid of another host', async () => {
    await writeOwner({ pid: await deadPid(), host: `not-${hostname()}` });
    expect(await tryLock(path(), opts())).to.equal(undefined);
    await ageBy(path(), 2000);
    const held = await tryLock(path(), opts(1000));
    expect(held, 'older than staleMs').to.not.equal(undefined);
    await held!.release();
  });

  it('never judges a live pid on this host stale by age, however old its lock looks', async () => {
    await writeOwner({ pid: process.pid, host: hostname() });
    await ageBy(path(), 3_600_000);
    expect(await tryLock(path(), opts(1000))).to.equal(undefined);
    expect((await owner()).token).to.equal('theirs');
  });

  it('judges the orchestrator\'s lock formats (bare UUID, "locked", its owner record, empty) only by age', async () => {
    const orchestratorOwner = JSON.stringify({ schema_version: 1, kind: 'codex-lock-owner', token: 'c0ffee', task_id: 't', pid: await deadPid(), host: hostname(), acquired_at: new Date().toISOString(), stale_ms: null });
    for (const content of ['', 'locked', '3f2504e0-4f89-11d3-9a0c-0305e82c3301', orchestratorOwner, '{"pid":']) {
      await writeFile(path(), content);
      await ageBy(path(), 10_000);
      // Older than the orchestrator's grace of old (3 s), younger than the stale age: still held.
      expect(await tryLock(path(), opts(60_000)), `young ${JSON.stringify(content)}`).to.equal(undefined);
      expect(await readFile(path(), 'utf8')).to.equal(content);
      const held = await tryLock(path(), opts(5000));
      expect(held, `old ${JSON.stringify(content)}`).to.not.equal(undefined);
      expect(await leftovers()).to.deep.equal([]);
      await held!.release();
    }
  });

  it('never follows a symlinked lock: its target is neither read nor removed', async () => {
    const target = join(tmp.dir, 'elsewhere.txt');
    await writeFile(target, 'precious');
    await symlink(target, path());
    expect(await tryLock(path(), opts(60_000))).to.equal(undefined);
    const then = new Date(Date.now() - 120_000);
    await lutimes(path(), then, then);
    const held = await tryLock(path(), opts(60_000));
    expect(held, 'taken over by age like any foreign lock').to.not.equal(undefined);
    expect(await readFile(target, 'utf8')).to.equal('precious');
    await held!.release();
  });

  it('lets exactly one of many contenders take over the same stale lock', async () => {
    await writeOwner({ pid: await deadPid(), host: hostname() });
    const results = await Promise.all(Array.from({ length: 12 }, () => tryLock(path(), opts())));
    const winners = results.filter((h) => h !== undefined);
    expect(winners).to.have.length(1);
    expect((await owner()).pid).to.equal(process.pid);
    await winners[0]!.release();
    expect(await readdir(tmp.dir)).to.deep.equal([]);
  });

  it('on release, leaves alone a lock that replaced ours', async () => {
    const held = await tryLock(path(), opts());
    // Someone judged us stale and took over: their lock now has the name.
    await writeFile(`${path()}.x`, JSON.stringify({ pid: process.pid, host: hostname(), time: new Date().toISOString(), token: 'theirs' }));
    await rename(`${path()}.x`, path());
    await held!.release();
    expect((await owner()).token).to.equal('theirs');
  });

  it('keeps a held lock fresh while it is held, so slow work is not mistaken for a dead holder', async () => {
    const held = await tryLock(path(), opts(1500));
    await sleep(2200);
    expect(await tryLock(path(), opts(1500))).to.equal(undefined);
    await held!.release();
  });

  it('lock() waits for a busy lock within its budget, and gives up after it', async () => {
    const held = await tryLock(path(), opts());
    expect(await lock(path(), { ...opts(), waitMs: 100 })).to.equal(undefined);
    const waiting = lock(path(), { ...opts(), waitMs: 20_000 });
    await sleep(150);
    await held!.release();
    const second = await waiting;
    expect(second).to.not.equal(undefined);
    await second!.release();
  });

  it('clears at once the takeover claim of a writer that died taking over (no 10 s stall)', async () => {
    const dead = await deadPid();
    await writeOwner({ pid: dead, host: hostname() });
    const st = await stat(path());
    const marker = `${path()}.takeover-${st.ino}-${Math.floor(st.mtimeMs)}`;
    await writeFile(marker, JSON.stringify({ pid: dead, host: hostname(), time: new Date().toISOString(), token: 'taker' }));
    const held = await lock(path(), { ...opts(), waitMs: 3000 });
    expect(held).to.not.equal(undefined);
    expect(await leftovers()).to.deep.equal([]);
    await held!.release();
  });

  it('respects the takeover claim of a live taker', async () => {
    await writeOwner({ pid: await deadPid(), host: hostname() });
    const st = await stat(path());
    await writeFile(`${path()}.takeover-${st.ino}-${Math.floor(st.mtimeMs)}`, JSON.stringify({ pid: process.pid, host: hostname(), time: new Date().toISOString(), token: 'taker' }));
    expect(await lock(path(), { ...opts(), waitMs: 300 })).to.equal(undefined);
  });

  it('has the holder sweep what writers killed mid-lock left beside it, and only that', async () => {
    const dead = await deadPid();
    const candidate = (token: string, o: Record<string, unknown> | string) => writeFile(`${path()}.${token}.tmp`, typeof o === 'string' ? o : JSON.stringify({ time: '', token, ...o }));
    await candidate('aaaaaaaaaaaaaaaa', { pid: dead, host: hostname() });
    await candidate('bbbbbbbbbbbbbbbb', '');
    await ageBy(`${path()}.bbbbbbbbbbbbbbbb.tmp`, 20_000);
    await candidate('cccccccccccccccc', { pid: process.pid, host: hostname() });
    await candidate('dddddddddddddddd', '');
    await writeFile(join(tmp.dir, 'metrics.lockfile-of-someone-else'), 'x');
    await (await openRecorder(tmp.dir)).append({ id: 'a' });
    const left = (await readdir(tmp.dir)).filter((n) => n.startsWith('metrics.lock'));
    expect(left.sort()).to.deep.equal(['metrics.lock.cccccccccccccccc.tmp', 'metrics.lock.dddddddddddddddd.tmp', 'metrics.lockfile-of-someone-else']);
  });

  describe('through the recorder', () => {
    it('appends in place of a dead holder instead of spilling', async () => {
      await writeOwner({ pid: await deadPid(), host: hostname() });
      const rec = await openRecorder(tmp.dir, { lockWaitMs: 50 });
      const res = await rec.append({ id: 'a' });
      expect(res.spilled).to.equal(false);
      expect(idsOf((await readStore(tmp.dir)).active)).to.deep.equal(['a']);
    });

    it('honours CODEX_METRICS_LOCK_STALE_MS', async () => {
      await writeOwner({ pid: process.pid, host: `not-${hostname()}` });
      await ageBy(path(), 3000);
      const patient = await openRecorder(tmp.dir, { lockWaitMs: 20 });
      expect((await patient.append({ id: 'a' })).spilled).to.equal(true);
      const strict = await openRecorder(tmp.dir, { lockWaitMs: 20, lockStaleMs: 1000 });
      const res = await strict.append({ id: 'b' });
      expect(res.spilled).to.equal(false);
      expect(res.merged).to.equal(1);
      expect(idsOf((await readStore(tmp.dir)).active)).to.deep.equal(['a', 'b']);
    });
  });
});
