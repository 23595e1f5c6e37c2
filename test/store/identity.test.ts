import { expect } from 'chai';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import type { Reducer } from '../../lib/aggregate/reducer.js';
import { retention } from '../../lib/retention/retention.js';
import { storePaths } from '../../lib/store/names.js';
import { lastSealedSeq } from '../../lib/store/segment-index.js';
import { runCli, runEntry } from '../helpers/cli.js';

let next = 0;
const entries = (_: string, n: number) => Array.from({ length: n }, () => runEntry(++next));
import { openRecorder } from '../helpers/store.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

const counter: Reducer<{ n: number }> = {
  name: 'counter',
  version: 1,
  init: () => ({ n: 0 }),
  step: (s) => {
    s.n++;
  },
  toJSON: (s) => s,
  fromJSON: (j) => ({ ...(j as { n: number }) }),
  outputs: (s) => [{ place: 'metrics', name: 'count.json', data: s }],
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('store identity and seq floor (metrics.segments/store.json)', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const paths = () => storePaths(tmp.dir);
  const storeJson = async () => JSON.parse(await readFile(paths().storeFile, 'utf8')) as { storeId: string; seqFloor: number };
  const segmentsJson = async () => {
    const r = await runCli(['segments', '--dir', tmp.dir, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as { storeId: string | null; segments: Array<{ seq: number; file: string }> };
  };
  const verifyJson = async (...extra: string[]) => {
    const r = await runCli(['verify', '--dir', tmp.dir, '--json', ...extra]);
    return { code: r.code, ...(JSON.parse(r.stdout) as { ok: boolean; problems: Array<{ file: string; kind: string; detail: string }> }) };
  };

  it('never reuses a seq: retention with only a custom reducer, then index.json lost, the next seal is seq 2', async () => {
    const rec = await openRecorder(tmp.dir);
    await rec.append(entries('a', 3));
    await rec.rotate();
    await aggregate({ dir: tmp.dir, log: quietLog, reducer: counter });
    const r = await retention({ dir: tmp.dir, log: quietLog, reducers: [counter], retention: { maxSegments: 0 } });
    expect(r.deleted).to.have.length(1);
    await rm(paths().index);
    await rec.append(entries('b', 2));
    const { sealed } = await rec.rotate();
    expect(sealed?.seq).to.equal(2);
    // The aggregator's cursor (seq 2 after the fold) is still in step with the store.
    const agg = await aggregate({ dir: tmp.dir, log: quietLog, reducer: counter });
    expect(agg.totalRuns).to.equal(5);
    expect(await lastSealedSeq(paths())).to.equal(2);
  });

  it('is made with the store, written once, and shown by `segments --json`; index.json keeps a copy', async () => {
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append(entries('a', 1));
    const first = await storeJson();
    expect(first.storeId).to.match(UUID);
    expect(first.seqFloor).to.equal(0);
    await rec.append(entries('b', 4));
    const after = await storeJson();
    expect(after.storeId).to.equal(first.storeId);
    expect(after.seqFloor).to.equal(2);
    const listed = await segmentsJson();
    expect(listed.storeId).to.equal(first.storeId);
    expect(listed.segments.map((s) => s.seq)).to.deep.equal([1, 2, 3]);
    expect(JSON.parse(await readFile(paths().index, 'utf8')).storeId).to.equal(first.storeId);
    // Neither a foreign file to verify nor a problem.
    const v = await verifyJson();
    expect(v.problems).to.deep.equal([]);
  });

  it('a store from before store.json gets one on its next write; until then it has none and that is no problem', async () => {
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append(entries('a', 3));
    // What an older version left: no store.json, an index without a storeId.
    await rm(paths().storeFile);
    const index = JSON.parse(await readFile(paths().index, 'utf8'));
    delete index.storeId;
    await writeFile(paths().index, JSON.stringify(index));
    expect((await segmentsJson()).storeId).to.equal(null);
    expect((await verifyJson()).problems).to.deep.equal([]);
    await rec.append(entries('b', 1));
    const made = await storeJson();
    expect(made.storeId).to.match(UUID);
    expect(made.seqFloor).to.equal(1);
    expect((await segmentsJson()).storeId).to.equal(made.storeId);
  });

  it('a store that lost store.json says so in verify, and gets its own id back, never a new one', async () => {
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append(entries('a', 3));
    const { storeId } = await storeJson();
    await rm(paths().storeFile);
    const v = await verifyJson();
    expect(v.ok).to.equal(false);
    expect(v.code).to.equal(1);
    expect(v.problems.map((p) => [p.file, p.kind])).to.deep.equal([['store.json', 'identity']]);
    expect(v.problems[0]!.detail).to.contain(storeId).and.contain('--repair');
    expect((await segmentsJson()).storeId).to.equal(storeId);
    // The next write restores it.
    await rec.append(entries('b', 1));
    expect((await storeJson()).storeId).to.equal(storeId);
    expect((await verifyJson()).ok).to.equal(true);
    // And so does --repair.
    await rm(paths().storeFile);
    const repaired = await verifyJson('--repair');
    expect(repaired.ok).to.equal(true);
    expect((await storeJson()).storeId).to.equal(storeId);
  });

  it('a damaged store.json with no copy left: verify errs, --repair makes a new identity and keeps the damaged bytes', async () => {
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append(entries('a', 3));
    const { storeId } = await storeJson();
    const index = JSON.parse(await readFile(paths().index, 'utf8'));
    delete index.storeId;
    await writeFile(paths().index, JSON.stringify(index));
    await writeFile(paths().storeFile, '{"storeId": ');
    const v = await verifyJson();
    expect(v.problems.map((p) => [p.file, p.kind])).to.deep.equal([['store.json', 'identity']]);
    expect(v.problems[0]!.detail).to.contain('no copy');
    // A writer carries on, without taking a new identity by itself.
    await rec.append(entries('b', 1));
    expect(await readFile(paths().storeFile, 'utf8')).to.equal('{"storeId": ');
    const repaired = await verifyJson('--repair');
    expect(repaired.ok).to.equal(true);
    const made = await storeJson();
    expect(made.storeId).to.match(UUID).and.not.equal(storeId);
    expect(made.seqFloor).to.equal(1);
    const corrupt = await readdir(paths().corrupt);
    expect(corrupt.filter((f) => f.startsWith('store.json.damaged'))).to.have.length(1);
  });
});
