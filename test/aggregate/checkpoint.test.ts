import { expect } from 'chai';
import { readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aggregate, type AggregateResult } from '../../lib/aggregate/aggregator.js';
import { orchestratorReducer } from '../../lib/aggregate/orchestrator.js';
import { retention } from '../../lib/retention/retention.js';
import { Recorder } from '../../lib/store/recorder.js';
import { checksummedJson } from '../../lib/store/files.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { appendRaw, captureLog, line, readOutput, readOutputs, rebuildInCopy, run, warnings } from './helpers.js';

const statePath = (root: string) => join(root, 'metrics', 'aggregate-state.json');

/** Rewrite the checkpoint as another program version could have written it: changed, with a good checksum. */
async function rewriteCheckpoint(root: string, change: (cp: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const { sha256: _sum, ...cp } = JSON.parse(await readFile(statePath(root), 'utf8')) as Record<string, unknown>;
  await writeFile(statePath(root), checksummedJson(change(cp)));
}

/** Entries whose every output field moves, so a wrong start point shows. */
function entry(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return run(`r${i}`, {
    status: i % 3 === 0 ? 'failed' : 'succeeded',
    duration_seconds: 10 + i * 0.1,
    tfgrpo_epoch: i % 2,
    cost_usd: 0.0001 * i,
    instance_stats: i % 4 === 0 ? [] : [1],
    learning_review_latency_ms: i * 1.5,
    learning_validation_status: i % 2 ? 'validated' : 'snapshot_failed',
    ...extra,
  });
}

describe('aggregate: checkpoint invalidation falls back to a correct rebuild', function () {
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');

  /** Two sealed segments (3 lines each) and two lines in the active file, aggregated once. */
  async function aggregated(): Promise<Recorder> {
    const rec = await Recorder.open({ dir: root(), maxLines: 3, log: quietLog });
    await rec.append(Array.from({ length: 8 }, (_, i) => entry(i)));
    const first = await aggregate({ dir: root(), log: quietLog });
    expect(first.cursor.seq).to.equal(3);
    return rec;
  }

  /** Aggregate with a captured log: must rebuild, warn why, and equal a fresh rebuild. */
  async function expectRebuild(reason: RegExp): Promise<AggregateResult> {
    const { log, records } = captureLog();
    const r = await aggregate({ dir: root(), log });
    expect(r.mode).to.equal('rebuild');
    expect(r.reason).to.match(reason);
    const warned = warnings(records).filter((w) => w['msg'] === 'aggregate: full rebuild');
    expect(warned, JSON.stringify(records)).to.have.length(1);
    expect(warned[0]!['reason']).to.equal(r.reason);
    const fresh = await rebuildInCopy(root(), tmp.dir);
    expect(await readOutputs(root())).to.deep.equal(fresh.outputs);
    expect(r.totals).to.deep.equal(fresh.result.totals);
    // And the checkpoint it wrote is good: the next pass is incremental and reads nothing.
    const next = await aggregate({ dir: root(), log: quietLog });
    expect(next).to.include({ mode: 'incremental', linesRead: 0 });
    return r;
  }

  it('active file truncated below the cursor', async () => {
    await aggregated();
    const text = await readFile(join(root(), 'metrics.json'), 'utf8');
    await truncate(join(root(), 'metrics.json'), text.indexOf('\n') + 1);
    const r = await expectRebuild(/shorter|gone/);
    expect(r.totalRuns).to.equal(7);
  });

  it('active file truncated, then grown past the cursor again with other lines', async () => {
    await aggregated();
    const text = await readFile(join(root(), 'metrics.json'), 'utf8');
    await writeFile(join(root(), 'metrics.json'), text.slice(0, text.indexOf('\n') + 1) + line(entry(50, { padding: "x".repeat(80) })) + line(entry(51, { status: 'failed', duration_seconds: 1 })));
    const r = await expectRebuild(/changed/);
    expect(r.totalRuns).to.equal(9);
    expect(await readOutput(root(), 'metrics/post-rollout.json')).to.include({ total_runs: 9 });
  });

  it('bytes just before the cursor changed (same length)', async () => {
    await aggregated();
    const text = await readFile(join(root(), 'metrics.json'), 'utf8');
    expect(text).to.include('"succeeded"');
    await writeFile(join(root(), 'metrics.json'), text.replace(/"succeeded"(?![\s\S]*"succeeded")/, '"cancelled"'));
    await expectRebuild(/changed/);
  });

  it('bytes at the start of a long active file changed (far before the cursor)', async () => {
    const rec = await Recorder.open({ dir: root(), log: quietLog });
    await rec.append(Array.from({ length: 120 }, (_, i) => entry(i, { padding: 'x'.repeat(40) })));
    await aggregate({ dir: root(), log: quietLog });
    const text = await readFile(join(root(), 'metrics.json'), 'utf8');
    expect(text.length).to.be.greaterThan(3 * 4096);
    await writeFile(join(root(), 'metrics.json'), text.replace('"succeeded"', '"cancelled"'));
    await expectRebuild(/changed/);
  });

  it('reducer version changed', async () => {
    await aggregated();
    const v2 = { ...orchestratorReducer, version: orchestratorReducer.version + 1 };
    const { log, records } = captureLog();
    const r = await aggregate({ dir: root(), log, reducer: v2 });
    expect(r.mode).to.equal('rebuild');
    expect(r.reason).to.match(/v1.*v2|version/);
    expect(warnings(records).map((w) => w['msg'])).to.include('aggregate: full rebuild');
    expect(await readOutputs(root())).to.deep.equal((await rebuildInCopy(root(), tmp.dir, { reducer: v2 })).outputs);
    const cp = JSON.parse(await readFile(statePath(root()), 'utf8'));
    expect(cp.reducer).to.deep.equal({ name: 'orchestrator', version: 2 });
    // Back on v1: the v2 checkpoint is not trusted either.
    const back = await aggregate({ dir: root(), log: quietLog });
    expect(back.mode).to.equal('rebuild');
  });

  for (const [what, content] of [
    ['not JSON', '{"version": 1, "cursor": '],
    ['empty', ''],
    ['JSON of the wrong shape', '[1, 2, 3]'],
    ['a cursor that is not a position', JSON.stringify({ version: 1, reducer: { name: 'orchestrator', version: 1 }, cursor: { seq: 'x' }, counts: {}, state: {} })],
  ] as const) {
    it(`checkpoint file is garbage: ${what}`, async () => {
      await aggregated();
      await writeFile(statePath(root()), content);
      await expectRebuild(/checkpoint/);
    });
  }

  it('checkpoint state the reducer cannot read', async () => {
    await aggregated();
    await rewriteCheckpoint(root(), (cp) => ({ ...cp, state: { nonsense: true } }));
    await expectRebuild(/state/);
  });

  it('checkpoint changed after it was written, still valid JSON (a digit of a count): damaged by its checksum, not trusted', async () => {
    await aggregated();
    const text = await readFile(statePath(root()), 'utf8');
    const changed = text.replace(/"runs": (\d+)/, (_m, n: string) => `"runs": ${Number(n) + 1}`);
    expect(changed).to.not.equal(text);
    JSON.parse(changed);
    await writeFile(statePath(root()), changed);
    await expectRebuild(/checkpoint is damaged: checksum mismatch/);
  });

  it('checkpoint points past the active segment', async () => {
    await aggregated();
    await rewriteCheckpoint(root(), (cp) => ({ ...cp, cursor: { ...(cp['cursor'] as object), seq: 9 } }));
    await expectRebuild(/past the active/);
  });

  it('checkpoint deleted', async () => {
    await aggregated();
    await appendRaw(root(), line(entry(20)));
    await unlink(statePath(root()));
    const r = await expectRebuild(/checkpoint/);
    expect(r.totalRuns).to.equal(9);
  });

  it('run-id index deleted', async () => {
    await aggregated();
    await rm(join(root(), 'metrics', 'run-ids'), { recursive: true });
    // Without a rebuild these duplicates would count as new runs.
    await appendRaw(root(), line(entry(1)) + line(entry(2)));
    const r = await expectRebuild(/run-id/);
    expect(r).to.include({ totalRuns: 8, duplicates: 2 });
  });

  it('run-id index layout unreadable', async () => {
    await aggregated();
    await writeFile(join(root(), 'metrics', 'run-ids', 'layout.json'), '{"gen":');
    await appendRaw(root(), line(entry(1)) + line(entry(2)));
    const r = await expectRebuild(/run-id/);
    expect(r).to.include({ totalRuns: 8, duplicates: 2 });
  });

  it('run-id index deleted after retention: the ids of deleted segments are lost, and the pass says so', async () => {
    await aggregated();
    await retention({ dir: root(), retention: { maxSegments: 0 }, log: quietLog });
    await rm(join(root(), 'metrics', 'run-ids'), { recursive: true });
    const { log, records } = captureLog();
    await aggregate({ dir: root(), log });
    expect(warnings(records).map((w) => w['msg']).join('\n')).to.match(/run-id index is gone/);
  });

  it('a deleted output is written again from the checkpoint, without a rebuild', async () => {
    await aggregated();
    const before = await readOutputs(root());
    await unlink(join(root(), 'metrics', 'post-rollout.json'));
    await unlink(join(root(), 'state.json'));
    const r = await aggregate({ dir: root(), log: quietLog });
    expect(r).to.include({ mode: 'incremental', linesRead: 0 });
    expect(await readOutputs(root())).to.deep.equal(before);
  });
});
