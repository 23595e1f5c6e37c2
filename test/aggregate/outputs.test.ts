import { expect } from 'chai';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { line, readOutput, readOutputs, run, writeActive } from './helpers.js';

/**
 * Each output checked against numbers worked out by hand from the fixture
 * (the arithmetic is in the comments), never against the reducer itself.
 */
describe('aggregate outputs (contract rules, hand-computed)', function () {
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');
  const out = () => join(tmp.dir, 'out');
  const agg = (extra: Record<string, unknown> = {}) => aggregate({ dir: root(), out: out(), log: quietLog, ...extra });

  // r1 and r4 carry epoch 2, r2 epoch 1; r3's epoch is the string "2" (not numeric).
  const r1 = run('r1', {
    status: 'succeeded',
    recorded_at: '2026-01-01T00:00:00Z',
    duration_seconds: 100,
    instance_stats: [{ instance_id: 'a' }],
    privacy_events: [{ action: 'allow' }],
    control_plane_status: 'ok',
    tfgrpo_epoch: 2,
    tfgrpo_group_size: 4,
    tool_calls: 3,
    token_total: 1000,
    cost_usd: 0.1234561,
    latency_ms: 500,
    tool_stats: [
      { tool: 'web', tokens: 10, cost_usd: 0.0000014, latency_ms: 7 },
      { tool: 'cli', tokens: 5, cost_usd: 0.5, latency_ms: 3 },
    ],
    learning_validation_status: 'validated',
    learning_review_rejections: 1,
    learning_review_latency_ms: 200,
    learning_regressions_detected: 1,
    learning_pattern_promoted: 2,
    learning_pattern_deprecated: 0,
    learning_throughput_candidates: 5,
    learning_alerts: 1,
    learning_snapshot_status: 'snapshot_failed',
  });
  const r2 = run('r2', {
    status: 'failed',
    recorded_at: '2026-01-01T00:01:00Z',
    duration_seconds: 50,
    instance_stats: [],
    control_plane_status: 'unknown',
    tfgrpo_epoch: 1,
    tool_calls: 1,
    token_total: 10,
    cost_usd: 0.0000006,
    latency_ms: 20,
    tool_stats: [{ tool: 'cli', tokens: 1, cost_usd: 0.25, latency_ms: 1 }],
    learning_validation_status: 'stalled_snapshot',
    learning_review_latency_ms: 100,
    learning_snapshot_status: 'stalled_snapshot',
    learning_alerts: 2,
    learning_pattern_deprecated: 3,
  });
  const r3 = run('r3', {
    status: 'succeeded',
    recorded_at: '2026-01-01T00:02:00Z',
    duration_seconds: '30',
    instance_stats: [1],
    privacy_events: [],
    control_plane_status: '',
    tfgrpo_epoch: '2',
    learning_validation_status: 'needs_manual_scenario',
    learning_review_latency_ms: 'slow',
    learning_throughput_candidates: 2,
  });
  const r4 = run('r4', {
    status: 'succeeded',
    recorded_at: '2026-01-01T00:03:00Z',
    duration_seconds: 30,
    privacy_events: [{ action: 'redact' }],
    tfgrpo_epoch: 2,
    tfgrpo_group_size: 6,
    cost_usd: 0.0000002,
    tool_stats: [{ tool: 'web', tokens: 20, cost_usd: 0.0000002, latency_ms: 1 }],
    learning_validation_status: 'snapshot_failed',
  });
  // Lines that do not count: malformed, invalid, a duplicate of r1 (which would change every sum).
  const fixture = [
    '{"run_id": "broken"\n',
    line({ run_id: 'r0', status: 'succeeded' }),
    line(r1),
    line(r2),
    line({ ...r1, status: 'failed', duration_seconds: 1e6 }),
    '\n',
    line(r3),
    line(r4),
  ].join('');

  beforeEach(async () => {
    await writeActive(root(), fixture);
  });

  it('writes baseline.json from the first counted entry (skipped lines before it do not count)', async () => {
    await agg();
    expect(await readOutput(root(), 'metrics/baseline.json')).to.deep.equal({
      run_id: 'r1',
      recorded_at: '2026-01-01T00:00:00Z',
      status: 'succeeded',
      duration_seconds: 100,
      completion_rate: 1,
    });
  });

  it('post-rollout: 3 of 4 runs succeeded (duplicate r1 "failed" ignored) -> 0.75, below 0.95', async () => {
    await agg();
    const p = await readOutput(root(), 'metrics/post-rollout.json');
    expect(p).to.include({ total_runs: 4, succeeded_runs: 3, completion_rate: 0.75, meets_threshold: false });
    expect(p.updated_at).to.be.a('string');
    expect(Number.isNaN(Date.parse(p.updated_at))).to.equal(false);
  });

  it('completeness: missing = absent or empty arrays, absent/empty/"unknown" status; ratio over 3 x runs', async () => {
    await agg();
    const c = await readOutput(root(), 'metrics/completeness.json');
    // instance_stats: r2 [] + r4 absent = 2; privacy_events: r2 absent + r3 [] = 2;
    // control_plane_status: r2 "unknown" + r3 "" + r4 absent = 3. 7 / (3 * 4).
    expect(c).to.deep.include({
      checked_fields: ['instance_stats', 'privacy_events', 'control_plane_status'],
      missing_counts: { instance_stats: 2, privacy_events: 2, control_plane_status: 3 },
      missing_field_ratio: 7 / 12,
      meets_threshold: false,
    });
  });

  it('per-epoch: numeric epochs only, ascending; cost rounded to 1e-6; tools in first-seen order', async () => {
    await agg();
    const e = await readOutput(root(), 'metrics/per-epoch.json');
    expect(e.updated_at).to.be.a('string');
    expect(e.epochs).to.deep.equal([
      {
        // r2 alone: 0.0000006 rounds up to 0.000001; no group size -> null.
        epoch: 1,
        runs: 1,
        tool_calls: 1,
        token_total: 10,
        cost_usd: 0.000001,
        latency_ms: 20,
        group_size_avg: null,
        tools: [{ tool: 'cli', runs: 1, tokens: 1, cost_usd: 0.25, latency_ms: 1 }],
      },
      {
        // r1 + r4 (r3's "2" is a string): cost 0.1234561 + 0.0000002 -> 0.123456; group (4 + 6) / 2.
        epoch: 2,
        runs: 2,
        tool_calls: 3,
        token_total: 1000,
        cost_usd: 0.123456,
        latency_ms: 500,
        group_size_avg: 5,
        tools: [
          // web seen first in r1, then again in r4: 0.0000014 + 0.0000002 -> 0.000002.
          { tool: 'web', runs: 2, tokens: 30, cost_usd: 0.000002, latency_ms: 8 },
          { tool: 'cli', runs: 1, tokens: 5, cost_usd: 0.5, latency_ms: 3 },
        ],
      },
    ]);
  });

  it('mttr-delta goes to <out>/metrics: mean of numeric durations vs the baseline file', async () => {
    await agg();
    // (100 + 50 + 30) / 3 = 60 (r3's "30" is a string); baseline r1 = 100; 60 <= 0.6 * 100.
    const m = await readOutput(out(), 'metrics/mttr-delta.json');
    expect(m).to.include({ baseline_mttr_seconds: 100, current_mttr_seconds: 60, reduction_percent: 0.4, meets_threshold: true });
    expect(await readOutput(root(), 'metrics/mttr-delta.json')).to.equal(undefined);
  });

  it('state.json goes to <out>: validation buckets, reviewer average latency, alerts', async () => {
    await agg();
    const s = await readOutput(out(), 'state.json');
    expect(s.updated_at).to.be.a('string');
    expect(s.safety).to.deep.equal({
      validation: { passed: 1, failed: 1, stalled: 1, manual: 1 },
      // (200 + 100) / 2: r3's "slow" is not a number.
      reviewer: { rejections: 1, average_latency_ms: 150 },
      regression_detection: { detected: 1 },
      pattern_hygiene: { promoted: 2, deprecated: 3 },
    });
    expect(s.throughput).to.deep.equal({ candidates: 7 });
    // learning_alerts 1 + 2; snapshot statuses r1 failed, r2 stalled; manual from validation (r3).
    expect(s.alerts).to.deep.equal({ total: 3, snapshot_failed: 1, stalled_snapshot: 1, needs_manual_scenario: 1 });
    expect(await readOutput(root(), 'state.json')).to.equal(undefined);
  });

  it('without --out, mttr-delta.json and state.json go under the root', async () => {
    await aggregate({ dir: root(), log: quietLog });
    expect((await readOutput(root(), 'metrics/mttr-delta.json')).current_mttr_seconds).to.equal(60);
    expect((await readOutput(root(), 'state.json')).throughput).to.deep.equal({ candidates: 7 });
  });

  it('a pass with another --out writes up-to-date outputs there, even with nothing new to read', async () => {
    const other = join(tmp.dir, 'other');
    await agg();
    await writeActive(root(), fixture + line(run('r5', { status: 'failed', duration_seconds: 0 })));
    await aggregate({ dir: root(), out: other, log: quietLog });
    // Back to the first --out: its state.json and mttr-delta.json were written before r5.
    const r = await agg();
    expect(r.linesRead).to.equal(0);
    // (100 + 50 + 30 + 0) / 4 = 45.
    expect(await readOutput(out(), 'metrics/mttr-delta.json')).to.include({ current_mttr_seconds: 45 });
    expect(await readOutput(other, 'metrics/mttr-delta.json')).to.include({ current_mttr_seconds: 45 });
    expect(await readOutputs(root(), out())).to.deep.equal(await readOutputs(root(), other));
  });

  it('an output left empty (not fsynced when the power went) is written again by the next pass, with nothing new', async () => {
    await agg();
    const before = await readOutputs(root(), out());
    await writeFile(join(out(), 'state.json'), '');
    await writeFile(join(root(), 'metrics', 'baseline.json'), '');
    const r = await agg();
    expect(r.linesRead).to.equal(0);
    expect(r.written).to.include(join(out(), 'state.json'));
    // baseline.json is written once, and an empty one was never written.
    expect(r.written).to.include(join(root(), 'metrics', 'baseline.json'));
    expect(await readOutput(root(), 'metrics/baseline.json')).to.deep.equal(before['metrics/baseline.json']);
    expect((await readOutput(out(), 'state.json')).safety).to.deep.equal((before['state.json'] as any).safety);
  });

  it('leaves no signal listeners behind in the host process', async () => {
    const before = process.listenerCount('SIGINT');
    await agg();
    await writeActive(root(), fixture + line(run('r5', { status: 'failed' })));
    await agg();
    expect(process.listenerCount('SIGINT')).to.equal(before);
  });

  it('incremental appends move every output by exactly the new entries', async () => {
    await agg();
    await writeActive(
      root(),
      fixture + line(run('r5', { status: 'failed', duration_seconds: 0, tfgrpo_epoch: 0.5, cost_usd: 0.3, instance_stats: [1], privacy_events: [1], control_plane_status: 'ok' })),
    );
    const r = await agg();
    expect(r).to.include({ mode: 'incremental', linesRead: 1, totalRuns: 5 });
    const o = await readOutputs(root(), out());
    // 3 of 5; missing 7 of 15; mean (100 + 50 + 30 + 0) / 4 = 45; 45 <= 60.
    expect(o['metrics/post-rollout.json']).to.include({ total_runs: 5, succeeded_runs: 3, completion_rate: 0.6 });
    expect(o['metrics/completeness.json']).to.include({ missing_field_ratio: 7 / 15 });
    expect(o['metrics/mttr-delta.json']).to.include({ current_mttr_seconds: 45, baseline_mttr_seconds: 100, reduction_percent: 0.55 });
    expect((o['metrics/per-epoch.json'] as any).epochs.map((e: any) => e.epoch)).to.deep.equal([0.5, 1, 2]);
    expect((o['metrics/per-epoch.json'] as any).epochs[0]).to.deep.equal({
      epoch: 0.5, runs: 1, tool_calls: 0, token_total: 0, cost_usd: 0.3, latency_ms: 0, group_size_avg: null, tools: [],
    });
  });
});

describe('aggregate outputs: thresholds and absent outputs', function () {
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');
  const agg = () => aggregate({ dir: root(), log: quietLog });
  const complete = { instance_stats: [1], privacy_events: [1], control_plane_status: 'ok' };

  it('post-rollout meets its threshold at exactly 0.95 (19 of 20), not at 0.9', async () => {
    const ok = Array.from({ length: 20 }, (_, i) => line(run(`a${i}`, { status: i === 0 ? 'failed' : 'succeeded' })));
    await writeActive(root(), ok.join(''));
    await agg();
    expect(await readOutput(root(), 'metrics/post-rollout.json')).to.include({ total_runs: 20, succeeded_runs: 19, completion_rate: 0.95, meets_threshold: true });
    await writeActive(root(), ok.join('') + line(run('b0', { status: 'cancelled' })) + line(run('b1', { status: 'SUCCEEDED' })));
    await agg();
    // 19 / 22: "SUCCEEDED" is not "succeeded".
    expect(await readOutput(root(), 'metrics/post-rollout.json')).to.include({ total_runs: 22, succeeded_runs: 19, completion_rate: 19 / 22, meets_threshold: false });
  });

  it('completeness meets its threshold below 0.05 only (1/60 yes, 3/60 no)', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => line(run(`c${i}`, i === 0 ? { ...complete, privacy_events: [] } : complete)));
    await writeActive(root(), lines.join(''));
    await agg();
    expect(await readOutput(root(), 'metrics/completeness.json')).to.deep.include({
      missing_counts: { instance_stats: 0, privacy_events: 1, control_plane_status: 0 },
      missing_field_ratio: 1 / 60,
      meets_threshold: true,
    });
    lines[1] = line(run('c1', { ...complete, instance_stats: undefined, control_plane_status: 'unknown' }));
    await writeActive(root(), lines.join(''));
    await aggregate({ dir: root(), log: quietLog, rebuild: true });
    expect(await readOutput(root(), 'metrics/completeness.json')).to.deep.include({
      missing_counts: { instance_stats: 1, privacy_events: 1, control_plane_status: 1 },
      missing_field_ratio: 3 / 60,
      meets_threshold: false,
    });
  });

  it('per-epoch.json is not written when no entry has a numeric epoch; mttr-delta not without a finite numeric duration', async () => {
    await writeActive(root(), [line(run('x1', { tfgrpo_epoch: '1', duration_seconds: '12' })), line(run('x2', { tfgrpo_epoch: null, duration_seconds: null }))].join(''));
    await agg();
    const o = await readOutputs(root());
    expect(o['metrics/per-epoch.json']).to.equal(undefined);
    expect(o['metrics/mttr-delta.json']).to.equal(undefined);
    expect(o['metrics/post-rollout.json']).to.include({ total_runs: 2 });
    expect(o['state.json']).to.deep.include({ alerts: { total: 0, snapshot_failed: 0, stalled_snapshot: 0, needs_manual_scenario: 0 } });
    expect((o['state.json'] as any).safety.reviewer).to.deep.equal({ rejections: 0, average_latency_ms: null });
    // baseline.json copies the value as recorded, as the orchestrator did; only MTTR needs a number.
    expect(o['metrics/baseline.json']).to.deep.equal({ run_id: 'x1', recorded_at: '2026-01-01T00:00:00.000Z', status: 'succeeded', duration_seconds: '12', completion_rate: 1 });
  });

  it('mttr-delta: baseline falls back to the current mean when baseline.json has no duration; base 0 means reduction 0 and met', async () => {
    await writeActive(root(), [line(run('m1', { status: 'failed' })), line(run('m2', { duration_seconds: 40 })), line(run('m3', { duration_seconds: 20 }))].join(''));
    await agg();
    expect((await readOutput(root(), 'metrics/baseline.json')).completion_rate).to.equal(0);
    expect(await readOutput(root(), 'metrics/mttr-delta.json')).to.include({ baseline_mttr_seconds: 30, current_mttr_seconds: 30, reduction_percent: 0, meets_threshold: false });

    await writeActive(root(), [line(run('z1', { duration_seconds: 0 })), line(run('z2', { duration_seconds: 10 }))].join(''));
    await aggregate({ dir: join(tmp.dir, 'root'), log: quietLog, rebuild: true });
    // baseline.json (m1, null duration) was kept, so the base is again the current mean: 5.
    expect(await readOutput(root(), 'metrics/mttr-delta.json')).to.include({ baseline_mttr_seconds: 5, current_mttr_seconds: 5, reduction_percent: 0 });
  });

  it('mttr-delta with a zero baseline duration: reduction 0 and the threshold met', async () => {
    await writeActive(root(), [line(run('z1', { duration_seconds: 0 })), line(run('z2', { duration_seconds: 10 }))].join(''));
    await agg();
    expect(await readOutput(root(), 'metrics/mttr-delta.json')).to.include({ baseline_mttr_seconds: 0, current_mttr_seconds: 5, reduction_percent: 0, meets_threshold: true });
  });

  it('baseline.json is never rewritten, even by a rebuild after the history changed', async () => {
    await writeActive(root(), [line(run('first', { duration_seconds: 90, status: 'failed' })), line(run('second', { duration_seconds: 30 }))].join(''));
    await agg();
    const before = await readOutput(root(), 'metrics/baseline.json');
    expect(before).to.deep.equal({ run_id: 'first', recorded_at: '2026-01-01T00:00:00.000Z', status: 'failed', duration_seconds: 90, completion_rate: 0 });
    // A different history under the checkpoint: a rebuild follows, baseline stays.
    await writeActive(root(), [line(run('other', { duration_seconds: 10 })), line(run('more', { duration_seconds: 20 }))].join(''));
    const r = await agg();
    expect(r.mode).to.equal('rebuild');
    expect(r.totalRuns).to.equal(2);
    expect(await readOutput(root(), 'metrics/baseline.json')).to.deep.equal(before);
    // mttr's baseline is the file's: 90, current (10 + 20) / 2 = 15.
    expect(await readOutput(root(), 'metrics/mttr-delta.json')).to.include({ baseline_mttr_seconds: 90, current_mttr_seconds: 15 });
    await aggregate({ dir: root(), log: quietLog, rebuild: true });
    expect(await readOutput(root(), 'metrics/baseline.json')).to.deep.equal(before);
  });

  it('no entry at all: no outputs (empty store, only skipped lines, blank lines)', async () => {
    await writeActive(root(), '');
    let r = await agg();
    expect(r.totalRuns).to.equal(0);
    expect(Object.values(await readOutputs(root())).every((v) => v === undefined)).to.equal(true);

    await writeActive(root(), ['not json\n', line({ run_id: 'x', status: 'ok' }), '\n  \n', line([1, 2]), line({ run_id: ' ', status: 's', recorded_at: 't' })].join(''));
    r = await agg();
    expect(r).to.include({ totalRuns: 0, malformed: 1, invalid: 3 });
    expect(Object.values(await readOutputs(root())).every((v) => v === undefined)).to.equal(true);
    const names = await readdir(join(root(), 'metrics'));
    expect(names.filter((n) => !n.startsWith('aggregate') && n !== 'run-ids')).to.deep.equal([]);
  });
});
