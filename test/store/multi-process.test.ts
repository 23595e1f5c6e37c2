import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { loadConfig } from '../../lib/config.js';
import { storePaths } from '../../lib/store/names.js';
import { Recorder } from '../../lib/store/recorder.js';
import type { SegmentIndex } from '../../lib/store/segment-index.js';
import { startAppender, writerEnv } from '../helpers/appender.js';
import { expectExactlyOnce, expectSegmentsWithin, idsOf, readStore } from '../helpers/store.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

/** The index agrees with the files: same segments, same line counts. */
async function expectIndexInStep(root: string): Promise<void> {
  const s = await readStore(root);
  const index = JSON.parse(await readFile(storePaths(root).index, 'utf8')) as SegmentIndex;
  expect(index.segments.map((r) => [r.seq, r.file, r.lines])).to.deep.equal(s.segments.map((x) => [x.seq, x.file, x.lines.length]));
  expect(index.lastSeq).to.equal(s.segments.at(-1)?.seq ?? 0);
}

/** Merge whatever is still pending, as the next writer would, with the writers' config. */
async function finalRecord(root: string, env: Record<string, string>): Promise<void> {
  const config = loadConfig({ dir: root }, { env: writerEnv(env) });
  const rec = await Recorder.open({ config, log: quietLog });
  await rec.appendText('');
}

describe('store: many processes appending at once (real child processes)', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();

  const scenarios: Array<{ name: string; env: Record<string, string>; limits: { maxLines: number; maxBytes?: number } }> = [
    { name: 'MAX_LINES=7', env: { CODEX_METRICS_MAX_LINES: '7' }, limits: { maxLines: 7 } },
    { name: 'MAX_LINES=7, MAX_BYTES=700, gzip', env: { CODEX_METRICS_MAX_LINES: '7', CODEX_METRICS_MAX_BYTES: '700', CODEX_METRICS_COMPRESS: 'gzip' }, limits: { maxLines: 7, maxBytes: 700 } },
  ];
  for (const scenario of scenarios) {
    it(`stores every acknowledged entry exactly once, no segment over the limit (${scenario.name})`, async () => {
      const writers = 5;
      const calls = 150;
      const children = Array.from({ length: writers }, (_, w) =>
        startAppender(
          // Two writers never wait for the lock (they spill at once), the others wait the default budget.
          { dir: tmp.dir, prefix: `w${w}`, count: calls, batchEvery: 10, batchSize: 3, ...(w < 2 ? { lockWaitMs: 0 } : {}) },
          scenario.env,
        ),
      );
      const results = await Promise.all(children.map((c) => c.done));
      for (const r of results) expect(r.code, r.stderr).to.equal(0);
      const perChild = calls + (calls / 10) * 2;
      for (const c of children) expect(c.acked).to.have.length(perChild);
      const spilled = results.reduce((n, r) => n + r.summary!.spilled, 0);
      if (process.env['STORE_TEST_VERBOSE']) console.log(results.map((r) => r.summary));

      await finalRecord(tmp.dir, scenario.env);
      const s = await readStore(tmp.dir);
      const stored = idsOf(s.all);
      expectExactlyOnce(stored, children.flatMap((c) => c.acked));
      expect(stored).to.have.length(writers * perChild);
      expectSegmentsWithin(s.segments, scenario.limits);
      expect(s.active.length).to.be.at.most(7);
      expect(s.pending.filter((n) => !n.startsWith('.')), 'left in metrics.pending/').to.deep.equal([]);
      expect(s.corrupt.size).to.equal(0);
      await expectIndexInStep(tmp.dir);
      expect((await readdir(tmp.dir)).sort()).to.deep.equal(['metrics.json', 'metrics.pending', 'metrics.segments'].filter((n) => n !== 'metrics.pending' || spilled > 0));

      // Each writer's entries keep its own order: a spill is merged before that writer's next append.
      for (const c of children) {
        const mine = stored.filter((id) => c.acked.includes(id));
        expect(mine).to.deep.equal(c.acked);
      }
      // The lock was contended for real: some entries took the pending path.
      expect(spilled, 'no writer ever found the lock busy').to.be.greaterThan(0);
    });
  }
});
