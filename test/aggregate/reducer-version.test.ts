import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { orchestratorReducer } from '../../lib/aggregate/orchestrator.js';
import type { Reducer } from '../../lib/aggregate/reducer.js';
import { retention } from '../../lib/retention/retention.js';
import { Recorder } from '../../lib/store/recorder.js';
import { runCli, runEntry } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

const errorOf = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
};

describe('reducers safe to change: a new version after retention', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const metrics = () => join(tmp.dir, 'metrics');

  /** 12 runs in 4 sealed segments of 3, 2 more in the active file; segments 1-2 folded and deleted (the base covers seq 1..2). */
  async function retainedHistory(): Promise<void> {
    const rec = await Recorder.open({ dir: tmp.dir, maxLines: 3, log: quietLog });
    for (let i = 1; i <= 14; i++) await rec.append(runEntry(i));
    await aggregate({ dir: tmp.dir, log: quietLog });
    const r = await retention({ dir: tmp.dir, log: quietLog, retention: { maxSegments: 2 } });
    expect(r.deleted).to.have.length(2);
  }

  const v2: Reducer<any> = { ...orchestratorReducer, version: orchestratorReducer.version + 1 };

  it('without an upgrade: every pass, --rebuild too, stops with an error naming the way out, and the way out works', async () => {
    await retainedHistory();
    for (const rebuild of [false, true]) {
      const err = await errorOf(aggregate({ dir: tmp.dir, log: quietLog, reducer: v2, rebuild }));
      expect(err.message).to.contain('retained-base.json was folded by reducer orchestrator v1').and.contain('--rebuild --accept-partial').and.contain('segments 3 onward');
    }
    const r = await aggregate({ dir: tmp.dir, log: quietLog, reducer: v2, rebuild: true, acceptPartial: true });
    expect(r.mode).to.equal('rebuild');
    expect(r.coversFromSeq).to.equal(3);
    // Runs 7..14, in segments 3-4 and the active file: what the segments left hold.
    expect(r.totalRuns).to.equal(8);
    const post = JSON.parse(await readFile(join(metrics(), 'post-rollout.json'), 'utf8')) as { total_runs: number };
    expect(post.total_runs).to.equal(8);
    // The old base is kept, not lost.
    const kept = (await readdir(metrics())).filter((f) => /^retained-base\.v1-superseded-.*\.json$/.test(f));
    expect(kept).to.have.length(1);
    expect(JSON.parse(await readFile(join(metrics(), kept[0]!), 'utf8')).reducer).to.deep.equal({ name: 'orchestrator', version: 1 });
    // No wedge: incremental passes, retention and rebuilds go on, each saying what they cover.
    const rec = await Recorder.open({ dir: tmp.dir, maxLines: 3, log: quietLog });
    await rec.append(runEntry(15));
    const next = await aggregate({ dir: tmp.dir, log: quietLog, reducer: v2 });
    expect(next).to.include({ mode: 'incremental', totalRuns: 9, coversFromSeq: 3 });
    await retention({ dir: tmp.dir, log: quietLog, reducers: [v2], retention: { maxSegments: 0 } });
    const rebuilt = await aggregate({ dir: tmp.dir, log: quietLog, reducer: v2, rebuild: true });
    expect(rebuilt).to.include({ totalRuns: 9, coversFromSeq: 3 });
  });

  it('with an upgrade: the base is carried forward, and a rebuild gives the same outputs as before', async () => {
    await retainedHistory();
    const before = await aggregate({ dir: tmp.dir, log: quietLog, rebuild: true });
    const outputs = async () => {
      const out: Record<string, unknown> = {};
      for (const f of ['post-rollout.json', 'completeness.json', 'per-epoch.json', 'baseline.json']) {
        const { updated_at: _, ...rest } = JSON.parse(await readFile(join(metrics(), f), 'utf8')) as Record<string, unknown>;
        out[f] = rest;
      }
      return out;
    };
    const expected = await outputs();
    const seen: number[] = [];
    const upgrading: Reducer<any> = { ...v2, upgrade: (json, from) => (seen.push(from), json) };
    const r = await aggregate({ dir: tmp.dir, log: quietLog, reducer: upgrading, rebuild: true });
    expect(seen).to.include(1);
    expect(r.totalRuns).to.equal(before.totalRuns).and.equal(14);
    expect(r.coversFromSeq).to.equal(undefined);
    expect(await outputs()).to.deep.equal(expected);
    // An upgrade that throws is a mismatch, with the same way out.
    const failing: Reducer<any> = { ...v2, upgrade: () => { throw new Error('epochs were not kept'); } };
    const err = await errorOf(aggregate({ dir: tmp.dir, log: quietLog, reducer: failing, rebuild: true }));
    expect(err.message).to.contain('could not upgrade it from v1 (epochs were not kept)').and.contain('--accept-partial');
  });

  it('CLI: a base from another version fails with exit 1 naming --rebuild --accept-partial; that command rebuilds and says what the outputs cover', async () => {
    await retainedHistory();
    // A base as a reducer version this build cannot read would leave it.
    const basePath = join(metrics(), 'retained-base.json');
    const base = JSON.parse(await readFile(basePath, 'utf8'));
    base.reducer.version = 0;
    // Written as a base from before checksums: an edited one with its old sum would read as damaged.
    delete base.sha256;
    await writeFile(basePath, JSON.stringify(base));
    const failed = await runCli(['aggregate', '--dir', tmp.dir]);
    expect(failed.code).to.equal(1);
    expect(failed.stderr).to.contain('--rebuild --accept-partial');
    const usage = await runCli(['aggregate', '--dir', tmp.dir, '--accept-partial']);
    expect(usage.code).to.equal(2);
    const r = await runCli(['aggregate', '--dir', tmp.dir, '--rebuild', '--accept-partial']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('partial: the outputs cover segments 3 onward');
    const again = await runCli(['aggregate', '--dir', tmp.dir, '--json']);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.include({ totalRuns: 8 });
  });
});
