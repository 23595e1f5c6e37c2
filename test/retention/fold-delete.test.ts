import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { orchestratorReducer } from '../../lib/aggregate/orchestrator.js';
import type { Reducer } from '../../lib/aggregate/reducer.js';
import { retention } from '../../lib/retention/retention.js';
import { parseSegmentName } from '../../lib/store/names.js';
import { Recorder } from '../../lib/store/recorder.js';
import { runCli, runEntry } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import {
  aggregateSnapshot,
  buildHistory,
  expectNonTrivial,
  expectSameAggregates,
  listing,
  readOutputs,
  sealedFiles,
  type History,
} from './history.js';

async function retainedBase(h: History): Promise<{ seq: number; counts: { runs: number } }> {
  return JSON.parse(await readFile(join(h.paths.metrics, 'retained-base.json'), 'utf8')) as { seq: number; counts: { runs: number } };
}

/** A second reducer: runs per status, in first-seen order. */
const statusTally: Reducer<Array<[string, number]>> = {
  name: 'status-tally',
  version: 1,
  init: () => [],
  step(state, entry) {
    const status = String(entry['status']);
    const row = state.find(([s]) => s === status);
    if (row) row[1]++;
    else state.push([status, 1]);
  },
  toJSON: (state) => state,
  fromJSON: (json) => json as Array<[string, number]>,
  outputs: (state) => [{ place: 'metrics', name: 'status-tally.json', data: { statuses: state } }],
};

describe('retention: fold, then delete', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  it('API: deletes the oldest sealed segments and every aggregate stays the same (incremental and rebuild)', async () => {
    const h = await buildHistory(tmp.dir);
    const before = await aggregateSnapshot(h.options);
    expectNonTrivial(before);
    const sealed = await sealedFiles(h.paths);
    expect(sealed.length).to.be.greaterThan(8);
    const active = await readFile(h.paths.active);

    const r = await retention({ ...h.options, retention: { maxSegments: 3 } });
    expect(r.dryRun).to.equal(false);
    expect(r.deleted).to.deep.equal(sealed.slice(0, -3));
    expect(r.kept).to.equal(3);
    expect(r.foldedThrough).to.equal(parseSegmentName(sealed.at(-4)!)!.seq);
    expect(await sealedFiles(h.paths)).to.deep.equal(sealed.slice(-3));
    expect(await readFile(h.paths.active)).to.deep.equal(active);
    const base = await retainedBase(h);
    expect(base.seq).to.equal(r.foldedThrough);
    expect(base.counts.runs).to.be.greaterThan(0).and.lessThan(before.totals.runs);

    // The checkpoint points into a deleted segment or later: incremental must still agree.
    const incremental = await aggregateSnapshot(h.options);
    expect(incremental.mode).to.equal('incremental');
    expectSameAggregates(incremental, before);
    const rebuilt = await aggregateSnapshot(h.options, true);
    expect(rebuilt.mode).to.equal('rebuild');
    expectSameAggregates(rebuilt, before);
  });

  it('a run_id first seen in a deleted segment is still a duplicate later, incrementally and after a rebuild', async () => {
    const h = await buildHistory(tmp.dir);
    await aggregate(h.options);
    await retention({ ...h.options, retention: { maxSegments: 1 } });
    const deletedId = h.firstSegmentIds[0]!;
    const before = await aggregateSnapshot(h.options);

    const rec = await Recorder.open(h.options);
    await rec.append([runEntry(1000), { ...runEntry(2000), run_id: deletedId }]);
    const incremental = await aggregateSnapshot(h.options);
    expect(incremental.totals.runs).to.equal(before.totals.runs + 1);
    expect(incremental.totals.duplicates).to.equal(before.totals.duplicates + 1);
    const rebuilt = await aggregateSnapshot(h.options, true);
    expectSameAggregates(rebuilt, incremental);

    // Retention of the segment that holds the duplicate too: still counted once.
    await rec.rotate();
    await retention({ ...h.options, retention: { maxSegments: 0 } });
    expect(await sealedFiles(h.paths)).to.deep.equal([]);
    expectSameAggregates(await aggregateSnapshot(h.options, true), incremental);
    expectSameAggregates(await aggregateSnapshot(h.options), incremental);
  });

  it('a checkpoint inside the deleted range: the next incremental pass starts from the base', async () => {
    const h = await buildHistory(tmp.dir, { entries: 20 });
    await aggregate(h.options);
    const rec = await Recorder.open(h.options);
    for (let i = 100; i < 140; i += 4) await rec.append([runEntry(i), runEntry(i + 1), runEntry(i + 2), runEntry(i + 3), runEntry(i % 7)]);
    const cp = JSON.parse(await readFile(join(h.paths.metrics, 'aggregate-state.json'), 'utf8')) as { cursor: { seq: number } };
    const r = await retention({ ...h.options, retention: { maxSegments: 1 } });
    expect(r.foldedThrough).to.be.greaterThan(cp.cursor.seq);
    const incremental = await aggregateSnapshot(h.options);
    expect(incremental.mode).to.equal('incremental');
    expectNonTrivial(incremental);
    expectSameAggregates(await aggregateSnapshot(h.options, true), incremental);
    // Same history, never retained, never aggregated before: the reference.
    const ref = await buildHistory(join(tmp.dir, 'ref'), { entries: 20 });
    const refRec = await Recorder.open(ref.options);
    for (let i = 100; i < 140; i += 4) await refRec.append([runEntry(i), runEntry(i + 1), runEntry(i + 2), runEntry(i + 3), runEntry(i % 7)]);
    expectSameAggregates(incremental, await aggregateSnapshot(ref.options));
  });

  it('several reducers: each gets its own retained base, and each aggregate stays the same', async () => {
    const h = await buildHistory(tmp.dir);
    const before = await aggregateSnapshot(h.options);
    const tally = await aggregate({ ...h.options, reducer: statusTally });
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });

    await retention({ ...h.options, log, reducers: [orchestratorReducer, statusTally], retention: { maxSegments: 2 } });
    expect(warnings).to.deep.equal([]);
    const bases = await Promise.all(['retained-base.json', 'retained-base.status-tally.json'].map(async (f) => JSON.parse(await readFile(join(h.paths.metrics, f), 'utf8')) as { seq: number }));
    expect(bases[1]!.seq).to.equal(bases[0]!.seq);
    const again = await aggregate({ ...h.options, reducer: statusTally, rebuild: true });
    expect(again.state).to.deep.equal(tally.state);
    expectSameAggregates(await aggregateSnapshot(h.options, true), before);

    // A run that does not fold the tally reducer deletes history it has no base for: it says so.
    await retention({ ...h.options, log, retention: { maxSegments: 1 } });
    expect(warnings.join('')).to.contain('aggregate-state.status-tally.json');
    expectSameAggregates(await aggregateSnapshot(h.options, true), before);
  });

  it('retention before the first aggregate: the fold alone carries the history', async () => {
    const h = await buildHistory(tmp.dir, { entries: 45 });
    const r = await retention({ ...h.options, retention: { maxSegments: 2 } });
    expect(r.deleted.length).to.be.greaterThan(4);
    const afterwards = await aggregateSnapshot(h.options);
    expectNonTrivial(afterwards);
    // A second store with the same history and no retention is the reference.
    const ref = await buildHistory(join(tmp.dir, 'ref'), { entries: 45 });
    expectSameAggregates(afterwards, await aggregateSnapshot(ref.options));
  });

  it('repeated runs: each deletes only what the policy now asks, the base grows, aggregates never change', async () => {
    const h = await buildHistory(tmp.dir);
    const before = await aggregateSnapshot(h.options);
    const sealed = await sealedFiles(h.paths);
    const first = await retention({ ...h.options, retention: { maxSegments: 8 } });
    expect(first.deleted).to.deep.equal(sealed.slice(0, -8));
    const again = await retention({ ...h.options, retention: { maxSegments: 8 } });
    expect(again.deleted).to.deep.equal([]);
    expect(again.kept).to.equal(8);
    const second = await retention({ ...h.options, retention: { maxSegments: 4 } });
    expect(second.deleted).to.deep.equal(sealed.slice(-8, -4));
    expect((await retainedBase(h)).seq).to.equal(parseSegmentName(sealed.at(-5)!)!.seq);
    expectSameAggregates(await aggregateSnapshot(h.options), before);
    expectSameAggregates(await aggregateSnapshot(h.options, true), before);
  });

  it('age and bytes limits through the API; sequence numbers go on after every segment is deleted', async () => {
    const h = await buildHistory(tmp.dir, { entries: 30 });
    const before = await aggregateSnapshot(h.options);
    const sealed = await sealedFiles(h.paths);
    expect((await retention({ ...h.options, retention: { maxAge: '1d' } })).deleted).to.deep.equal([]);
    const sizes = await Promise.all(sealed.map(async (f) => (await stat(join(h.paths.segments, f))).size));
    const lastTwo = sizes.at(-1)! + sizes.at(-2)!;
    const byBytes = await retention({ ...h.options, retention: { maxBytes: lastTwo } });
    expect(byBytes.deleted).to.deep.equal(sealed.slice(0, -2));
    const byAge = await retention({ ...h.options, retention: { maxAge: '1d' }, clock: { now: () => Date.now() + 2 * 86_400_000 } });
    expect(byAge.deleted).to.deep.equal(sealed.slice(-2));
    expect(byAge.kept).to.equal(0);
    expectSameAggregates(await aggregateSnapshot(h.options, true), before);

    // The index is derived: even without it the next seal continues after the deleted ones.
    await rm(h.paths.index, { force: true });
    const rec = await Recorder.open(h.options);
    const lastSeq = parseSegmentName(sealed.at(-1)!)!.seq;
    const appended = await rec.append(runEntry(5000));
    const { sealed: next } = await rec.rotate();
    const seqs = [...appended.sealed.map((s) => s.seq), next!.seq];
    expect(seqs).to.deep.equal(seqs.map((_, i) => lastSeq + 1 + i));
  });

  it('gzip segments: deleted like plain ones, aggregates unchanged', async () => {
    const h = await buildHistory(tmp.dir, { compress: 'gzip', entries: 40 });
    const sealed = await sealedFiles(h.paths);
    expect(sealed.every((f) => f.endsWith('.jsonl.gz'))).to.equal(true);
    const before = await aggregateSnapshot(h.options);
    // A crash mid-compression leaves the plain file beside its .gz: it must go with it, not stand in for it.
    const twin = sealed[0]!.replace(/\.gz$/, '');
    await writeFile(join(h.paths.segments, twin), gunzipSync(await readFile(join(h.paths.segments, sealed[0]!))));
    const r = await retention({ ...h.options, retention: { maxSegments: 2 } });
    expect(r.deleted).to.deep.equal(sealed.slice(0, -2));
    expect(await readdir(h.paths.segments)).to.not.include(twin);
    expectSameAggregates(await aggregateSnapshot(h.options), before);
    expectSameAggregates(await aggregateSnapshot(h.options, true), before);
  });

  describe('CLI', () => {
    it('retention --max-segments N --json deletes and reports {"deleted": [...], "kept": N}; aggregate --rebuild agrees', async () => {
      const h = await buildHistory(tmp.dir);
      const before = await aggregateSnapshot(h.options);
      const sealed = await sealedFiles(h.paths);

      const r = await runCli(['retention', '--dir', tmp.dir, '--max-segments', '4', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: sealed.slice(0, -4), kept: 4 });
      expect(await sealedFiles(h.paths)).to.deep.equal(sealed.slice(-4));

      const agg = await runCli(['aggregate', '--dir', tmp.dir, '--rebuild', '--json']);
      expect(agg.code, agg.stderr).to.equal(0);
      const summary = JSON.parse(agg.stdout) as { mode: string; totalRuns: number };
      expect(summary.mode).to.equal('rebuild');
      expect(summary.totalRuns).to.equal(before.totals.runs);
      expect(await readOutputs(tmp.dir)).to.deep.equal(before.outputs);
      const inc = await runCli(['aggregate', '--dir', tmp.dir, '--json']);
      expect(JSON.parse(inc.stdout)).to.include({ mode: 'incremental', totalRuns: before.totals.runs });
      expect(await readOutputs(tmp.dir)).to.deep.equal(before.outputs);
    });

    it('the policy can come from the environment; human output lists what it deleted', async () => {
      const h = await buildHistory(tmp.dir, { entries: 30 });
      const sealed = await sealedFiles(h.paths);
      const r = await runCli(['retention', '--dir', tmp.dir], { env: { CODEX_METRICS_RETENTION_MAX_SEGMENTS: '1' } });
      expect(r.code, r.stderr).to.equal(0);
      for (const f of sealed.slice(0, -1)) expect(r.stdout).to.contain(`deleted ${f}`);
      expect(r.stdout).to.contain(`deleted ${sealed.length - 1} segments, kept 1`);
      expect(await sealedFiles(h.paths)).to.deep.equal(sealed.slice(-1));
    });

    it('--dry-run deletes nothing and prints what it would', async () => {
      const h = await buildHistory(tmp.dir);
      await aggregate(h.options);
      const sealed = await sealedFiles(h.paths);
      const files = await listing(tmp.dir);

      const r = await runCli(['retention', '--dir', tmp.dir, '--max-segments', '2', '--dry-run', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: sealed.slice(0, -2), kept: 2 });
      const human = await runCli(['retention', '--dir', tmp.dir, '--max-segments', '2', '--dry-run']);
      expect(human.stdout).to.contain(`would delete ${sealed[0]}`);
      expect(human.stdout).to.contain(`would delete ${sealed.length - 2} segments, would keep 2`);
      expect(await listing(tmp.dir)).to.deep.equal(files);
    });

    it('without any limit, says so and deletes nothing', async () => {
      const h = await buildHistory(tmp.dir, { entries: 20 });
      const files = await listing(tmp.dir);
      const r = await runCli(['retention', '--dir', tmp.dir]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('no retention limit set');
      expect(r.stdout).to.contain('deleted 0 segments');
      expect(await listing(tmp.dir)).to.deep.equal(files);
      expect(await sealedFiles(h.paths)).to.have.length.greaterThan(2);
    });

    it('counts the segments in the directory, whoever sealed them: index.json missing or stale changes nothing', async () => {
      const h = await buildHistory(tmp.dir, { entries: 40 });
      // More segments sealed by other processes through the CLI.
      for (let i = 0; i < 3; i++) {
        const rec = await runCli(['record', '--dir', tmp.dir], { input: `${JSON.stringify(runEntry(900 + i))}\n` });
        expect(rec.code, rec.stderr).to.equal(0);
        expect((await runCli(['rotate', '--dir', tmp.dir])).code).to.equal(0);
      }
      const sealed = await sealedFiles(h.paths);
      await rm(h.paths.index);
      const r = await runCli(['retention', '--dir', tmp.dir, '--max-segments', '5', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: sealed.slice(0, -5), kept: 5 });
      const index = JSON.parse(await readFile(h.paths.index, 'utf8')) as { segments: Array<{ file: string }> };
      expect(index.segments.map((s) => s.file)).to.deep.equal(sealed.slice(-5));
    });
  });
});
