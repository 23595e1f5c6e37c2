import { expect } from 'chai';
import { lstat, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { storePaths } from '../../lib/store/names.js';
import { startAppender, writerEnv, type Appender } from '../helpers/appender.js';
import { jsonl, runCli } from '../helpers/cli.js';
import { tryLock } from '../../lib/store/lock.js';
import type { SegmentIndex } from '../../lib/store/segment-index.js';
import { entries, expectExactlyOnce, expectSegmentsWithin, idsOf, openRecorder, readStore } from '../helpers/store.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import type { Step } from '../../lib/store/fs-env.js';
import type { Fault } from '../helpers/faulty-fs.js';

async function kill(a: Appender): Promise<void> {
  a.child.kill('SIGKILL');
  const r = await a.done;
  expect(r.signal, `writer ended on its own: ${r.stderr}`).to.equal('SIGKILL');
}

/** Bytes after the last "\n" of metrics.json: what a repair must move to metrics.corrupt/. */
async function tornTail(root: string): Promise<string> {
  const text = await readFile(storePaths(root).active, 'utf8').catch(() => '');
  return text.slice(text.lastIndexOf('\n') + 1);
}

interface Cycle {
  /** Kill the first writer once it acknowledged this many ids, plus `jitterMs`. */
  killAfter: number;
  jitterMs: number;
  /** How many more acknowledgements the second writer gets before it is killed too. */
  thenAfter: number;
}

describe('store: kill -9 in the middle of appending (real SIGKILL)', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();

  /**
   * Two writers append in a loop on the same store (one spills at once when
   * the lock is busy, so there are pending files to merge), both are killed
   * at chosen moments, then a plain `record` with no input repairs the store.
   */
  async function crashCycles(env: Record<string, string>, maxLines: number, cycles: Cycle[], pad = 0, batchSize = 4): Promise<{ torn: number }> {
    const acked: string[] = [];
    const prefixes: string[] = [];
    let torn = 0;
    for (const [i, c] of cycles.entries()) {
      const a = startAppender({ dir: tmp.dir, prefix: `c${i}a`, count: null, batchEvery: 3, batchSize, lockWaitMs: 0, pad }, env);
      const b = startAppender({ dir: tmp.dir, prefix: `c${i}b`, count: null, batchEvery: 5, batchSize, pad }, env);
      prefixes.push(`c${i}a-`, `c${i}b-`);
      await a.waitFor(c.killAfter);
      await sleep(c.jitterMs);
      await kill(a);
      await b.waitFor(b.acked.length + c.thenAfter);
      await sleep(c.jitterMs);
      await kill(b);
      acked.push(...a.acked, ...b.acked);

      const tail = await tornTail(tmp.dir);
      const before = await readStore(tmp.dir);
      const lockLeft = await lstat(storePaths(tmp.dir).lock).then(() => true, () => false);
      if (process.env['STORE_TEST_VERBOSE']) {
        console.log({ cycle: i, lockLeft, torn: tail.length, pending: before.pending.length, merging: before.pending.filter((n) => n.includes('.merging-')).length, acked: acked.length });
      }
      const repair = await runCli(['record', '--dir', tmp.dir, '--json'], { env: writerEnv(env), input: '' });
      expect(repair.code, repair.stderr).to.equal(0);
      expect(JSON.parse(repair.stdout)).to.deep.equal({ recorded: 0 });

      const s = await readStore(tmp.dir);
      if (tail !== '') {
        torn++;
        expect([...s.corrupt.values()], 'torn tail quarantined').to.include(tail);
      }
      expect(s.corrupt.size).to.equal(before.corrupt.size + (tail !== '' ? 1 : 0));
      expect(await lstat(storePaths(tmp.dir).lock).catch(() => undefined), 'lock left behind').to.equal(undefined);
      expect(s.pending.filter((n) => !n.startsWith('.')), 'pending not merged').to.deep.equal([]);
      expectExactlyOnce(idsOf(s.all), acked, (id) => prefixes.some((p) => id.startsWith(p)));
      expectSegmentsWithin(s.segments, { maxLines });
    }
    return { torn };
  }

  it('repairs after writers die at varied moments (MAX_LINES=5)', async () => {
    await crashCycles({ CODEX_METRICS_MAX_LINES: '5' }, 5, [
      { killAfter: 1, jitterMs: 0, thenAfter: 3 },
      { killAfter: 20, jitterMs: 3, thenAfter: 10 },
      { killAfter: 7, jitterMs: 11, thenAfter: 1 },
      { killAfter: 40, jitterMs: 1, thenAfter: 25 },
    ]);
  });

  it('repairs after writers die while sealing gzip segments (MAX_LINES=3, gzip, fsync always)', async () => {
    await crashCycles({ CODEX_METRICS_MAX_LINES: '3', CODEX_METRICS_COMPRESS: 'gzip', CODEX_METRICS_FSYNC: 'always' }, 3, [
      { killAfter: 5, jitterMs: 2, thenAfter: 5 },
      { killAfter: 15, jitterMs: 0, thenAfter: 2 },
      { killAfter: 9, jitterMs: 7, thenAfter: 12 },
    ]);
  });

  it('repairs after writers die in the middle of big writes (torn tails)', async () => {
    const { torn } = await crashCycles({ CODEX_METRICS_MAX_LINES: '2000', CODEX_METRICS_FSYNC: 'never' }, 2000, [
      { killAfter: 1, jitterMs: 5, thenAfter: 300 },
      { killAfter: 300, jitterMs: 13, thenAfter: 1 },
      { killAfter: 600, jitterMs: 2, thenAfter: 300 },
    ], 2000, 300);
    if (process.env['STORE_TEST_VERBOSE']) console.log({ torn });
  });

  describe('at chosen points (the writer SIGKILLs itself there)', () => {
    const ids = (prefix: string, n: number) => entries(prefix, n).map((e) => String(e['id']));
    const record = (input: string, env: Record<string, string> = {}) => runCli(['record', '--dir', tmp.dir, '--json'], { env: writerEnv(env), input });
    async function crash(point: Step | 'writer:torn-write', input: string, env: Record<string, string> = {}): Promise<void> {
      // Half of an append lands, then the writer dies: a crash in the middle of write(2).
      const fault: Fault = point === 'writer:torn-write' ? { site: 'active', op: 'write', action: 'torn-kill' } : { step: point, action: 'kill' };
      const r = await runCli(['record', '--dir', tmp.dir, '--json'], { env: writerEnv(env), input, fault });
      expect(r.signal, `${point} did not fire: ${r.stderr}`).to.equal('SIGKILL');
      expect(await lstat(storePaths(tmp.dir).lock).then(() => true, () => false), 'the dead writer held the lock').to.equal(true);
    }
    async function repair(env: Record<string, string> = {}): Promise<void> {
      const r = await record('', env);
      expect(r.code, r.stderr).to.equal(0);
      expect(await lstat(storePaths(tmp.dir).lock).then(() => true, () => false), 'lock left behind').to.equal(false);
    }
    /** Three spilled entries, as writers that found the lock busy leave them. */
    async function spillThree(): Promise<void> {
      const held = (await tryLock(storePaths(tmp.dir).lock, { staleMs: 300_000, log: quietLog }))!;
      const rec = await openRecorder(tmp.dir, { lockWaitMs: 0 });
      for (const e of entries('p', 3)) expect((await rec.append(e)).spilled).to.equal(true);
      await held.release();
    }

    it('half a write: the torn half is quarantined, the complete lines before it stay once', async () => {
      await record(jsonl(entries('a', 3)));
      // Three lines of equal length: half the bytes always ends inside the second.
      await crash('writer:torn-write', jsonl(entries('x', 3, { pad: 'y'.repeat(50) })));
      const tail = await tornTail(tmp.dir);
      expect(tail).to.not.equal('');
      await repair();
      await record(jsonl(entries('b', 1)));
      const s = await readStore(tmp.dir);
      expect([...s.corrupt.values()]).to.deep.equal([tail]);
      const stored = idsOf(s.all);
      const written = stored.filter((id) => id.startsWith('x'));
      expect(written.length).to.equal(1);
      expect(stored).to.deep.equal([...ids('a', 3), ...ids('x', written.length), 'b0']);
    });

    it('a merge that claimed a pending file and died: the file is merged once, in order', async () => {
      await record(jsonl(entries('a', 2)));
      await spillThree();
      await crash('writer:merge-claimed', jsonl(entries('own', 1)));
      expect((await readStore(tmp.dir)).pending.filter((n) => n.includes('.merging-'))).to.have.length(1);
      await repair();
      const s = await readStore(tmp.dir);
      expect(idsOf(s.all)).to.deep.equal([...ids('a', 2), ...ids('p', 3)]);
      expect(s.pending).to.deep.equal([]);
    });

    it('a merge that wrote its entry and died before removing the file: not written twice', async () => {
      await record(jsonl(entries('a', 2)));
      await spillThree();
      await crash('writer:merge-appended', jsonl(entries('own', 1)));
      await repair();
      const s = await readStore(tmp.dir);
      expect(idsOf(s.all)).to.deep.equal([...ids('a', 2), ...ids('p', 3)]);
      expect(s.pending).to.deep.equal([]);
    });

    it('a seal that renamed the segment and died before the index: the index catches up, seq continues', async () => {
      const env = { CODEX_METRICS_MAX_LINES: '2' };
      await record(jsonl(entries('a', 6)), env);
      await crash('seal:renamed', jsonl(entries('x', 1)), env);
      const index = JSON.parse(await readFile(storePaths(tmp.dir).index, 'utf8')) as SegmentIndex;
      expect(index.lastSeq).to.equal(2);
      await repair(env);
      const listed = JSON.parse((await runCli(['segments', '--dir', tmp.dir, '--json'], { env: writerEnv(env) })).stdout) as { segments: Array<{ seq: number; state: string; lines: number }> };
      expect(listed.segments.map((x) => [x.seq, x.state, x.lines])).to.deep.equal([[1, 'sealed', 2], [2, 'sealed', 2], [3, 'sealed', 2]]);
      await record(jsonl(entries('b', 3)), env);
      const s = await readStore(tmp.dir);
      expectSegmentsWithin(s.segments, { maxLines: 2 });
      expect(s.segments.map((x) => x.seq)).to.deep.equal([1, 2, 3, 4]);
      expect(idsOf(s.all)).to.deep.equal([...ids('a', 6), ...ids('b', 3)]);
      const after = JSON.parse(await readFile(storePaths(tmp.dir).index, 'utf8')) as SegmentIndex;
      expect(after.segments.map((r) => r.seq)).to.deep.equal([1, 2, 3, 4]);
    });

    it('a gzip seal that died before removing the plain file: one copy is kept, none is counted twice', async () => {
      const env = { CODEX_METRICS_MAX_LINES: '2', CODEX_METRICS_COMPRESS: 'gzip' };
      await record(jsonl(entries('a', 2)), env);
      await crash('seal:gzipped', jsonl(entries('x', 1)), env);
      await repair(env);
      const listed = JSON.parse((await runCli(['segments', '--dir', tmp.dir, '--json'], { env: writerEnv(env) })).stdout) as { segments: Array<{ seq: number; file: string; lines: number }> };
      expect(listed.segments.map((x) => [x.seq, x.lines])).to.deep.equal([[1, 2]]);
      expect(listed.segments[0]!.file).to.match(/\.jsonl\.gz$/);
      await record(jsonl(entries('b', 3)), env);
      const s = await readStore(tmp.dir);
      expect(idsOf(s.all)).to.deep.equal([...ids('a', 2), ...ids('b', 3)]);
      const files = (await readStore(tmp.dir)).segments.map((x) => x.file);
      expect(files.every((f) => f.endsWith('.gz'))).to.equal(true);
      const { readdir } = await import('node:fs/promises');
      expect((await readdir(storePaths(tmp.dir).segments)).filter((f) => f.endsWith('.jsonl')), 'plain twin left').to.deep.equal([]);
    });
  });
});
