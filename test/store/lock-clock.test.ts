import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAppender } from '../helpers/appender.js';
import { holdInChild } from '../helpers/hold-lock.js';
import { jsonl, runCli, runEntry, skewedClock } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { expectExactlyOnce, idsOf, openRecorder, readStore } from '../helpers/store.js';

const TEN_MINUTES = 10 * 60_000;

describe('store/lock: clocks and stale ages (real processes)', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  it('a writer whose clock is 10 min ahead does not take over a live holder on this host: it spills', async () => {
    await (await openRecorder(tmp.dir)).append({ id: 'before' });
    const holder = await holdInChild(tmp.dir);
    const token = JSON.parse(await readFile(join(tmp.dir, 'metrics.lock'), 'utf8')).token;
    try {
      const clock = skewedClock(TEN_MINUTES);
      const r = await runCli(['record', '--dir', tmp.dir, '--json'], { input: jsonl([{ id: 'ahead' }]), nodeArgs: clock.nodeArgs, env: { ...clock.env, CODEX_METRICS_LOCK_STALE_MS: '60000' } });
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(await readFile(join(tmp.dir, 'metrics.lock'), 'utf8')).token, 'the holder still holds its lock').to.equal(token);
      const s = await readStore(tmp.dir);
      expect(idsOf(s.active)).to.deep.equal(['before']);
      expect(s.pending).to.have.length(1);
    } finally {
      await holder.release();
    }
    await (await openRecorder(tmp.dir)).append({ id: 'after' });
    expect(idsOf((await readStore(tmp.dir)).active)).to.deep.equal(['before', 'ahead', 'after']);
  });

  it('a storm of writers at the smallest stale age, half with clocks 10 min ahead, sealing and gzipping, loses and doubles nothing', async () => {
    const env = { CODEX_METRICS_LOCK_STALE_MS: '1000', CODEX_METRICS_MAX_LINES: '7', CODEX_METRICS_COMPRESS: 'gzip', CODEX_METRICS_FSYNC: 'never' };
    const clock = skewedClock(TEN_MINUTES);
    const writers = Array.from({ length: 6 }, (_, i) =>
      i % 2 === 0
        ? startAppender({ dir: tmp.dir, prefix: `w${i}`, count: 40, batchEvery: 5, batchSize: 3, lockWaitMs: 5 }, { ...env, ...clock.env }, clock.nodeArgs)
        : startAppender({ dir: tmp.dir, prefix: `w${i}`, count: 40, batchEvery: 5, batchSize: 3, lockWaitMs: 5 }, env),
    );
    const results = await Promise.all(writers.map((w) => w.done));
    for (const r of results) expect(r.code, r.stderr).to.equal(0);
    // Merge whatever is still spilled.
    await (await openRecorder(tmp.dir)).appendText('');
    const s = await readStore(tmp.dir);
    expectExactlyOnce(idsOf(s.all), writers.flatMap((w) => w.acked));
    expect(s.corrupt.size).to.equal(0);
    const v = await runCli(['verify', '--dir', tmp.dir, '--json']);
    expect(JSON.parse(v.stdout).ok, v.stdout).to.equal(true);
  });
});
