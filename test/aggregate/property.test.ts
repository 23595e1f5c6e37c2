import { expect } from 'chai';
import fc from 'fast-check';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { orchestratorReducer } from '../../lib/aggregate/orchestrator.js';
import { reportReducer, type ReportState } from '../../lib/report/reducer.js';
import { retention } from '../../lib/retention/retention.js';
import { storePaths } from '../../lib/store/names.js';
import { spill } from '../../lib/store/pending.js';
import { Recorder } from '../../lib/store/recorder.js';
import { quietLog } from '../helpers/tmp.js';
import { appendRaw, readOutputs, rebuildInCopy, type Outputs } from './helpers.js';
import type { Step } from '../../lib/store/fs-env.js';
import { withFault } from '../helpers/faulty-fs.js';

/**
 * Exact incremental aggregation, as a property: for random histories of
 * appends (with floats, epochs, garbage, duplicates and torn tails),
 * rotations, seals by size and count, retention, crashes and aggregations,
 * the outputs of the last incremental pass equal those of `--rebuild` in a
 * copy of the store, and both equal a model that replays every line that
 * reached the store through the reducer with a plain Set of seen ids. The
 * report's reducer runs beside it, from its own checkpoint, and its state
 * equals the model's and a rebuild's too.
 */

const REDUCERS = [orchestratorReducer, reportReducer];

// ---- generators -------------------------------------------------------------

const RUN_IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'ü-1', ' a', '日本'];

const number = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3, max: 500 }) },
  { weight: 4, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }) },
  { weight: 2, arbitrary: fc.constantFrom(0.1, 0.2, 0.3, 1e-7, 5e-7, 1.5e-6, -0, 1e300) },
  { weight: 1, arbitrary: fc.constantFrom(1.7e308, -1.7e308) },
  { weight: 1, arbitrary: fc.constantFrom('12', null, true) },
);

const tool = fc.record(
  { tool: fc.constantFrom('web', 'cli:command', 'search', '', 7), tokens: number, cost_usd: number, latency_ms: number },
  { requiredKeys: ['tool'] },
);

const entry = fc.record(
  {
    run_id: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...RUN_IDS) }, { weight: 3, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.constantFrom('', '  ', 5) }),
    status: fc.constantFrom('succeeded', 'succeeded', 'failed', 'cancelled', '', ' '),
    recorded_at: fc.constantFrom('2026-01-01T00:00:00Z', '2026-02-03T04:05:06.789Z', '', undefined),
    duration_seconds: number,
    instance_stats: fc.constantFrom([], [{ id: 1 }], 'x', null),
    privacy_events: fc.constantFrom([], [{ action: 'allow' }]),
    control_plane_status: fc.constantFrom('ok', 'unknown', '', 'passed'),
    tfgrpo_epoch: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0.5, -1, '1', null)),
    tfgrpo_group_size: number,
    tool_calls: number,
    token_total: number,
    cost_usd: number,
    latency_ms: number,
    tool_stats: fc.oneof(fc.array(tool, { maxLength: 3 }), fc.constant('none')),
    learning_validation_status: fc.constantFrom('validated', 'snapshot_failed', 'stalled_snapshot', 'needs_manual_scenario', 'pending', 'constructor'),
    learning_snapshot_status: fc.constantFrom('captured', 'snapshot_failed', 'stalled_snapshot'),
    learning_review_latency_ms: number,
    learning_review_rejections: number,
    learning_alerts: number,
    learning_throughput_candidates: number,
  },
  { requiredKeys: [] },
).map((e) => JSON.parse(JSON.stringify(e)) as Record<string, unknown>);

const rawLine = fc.oneof(
  { weight: 3, arbitrary: entry.map((e) => JSON.stringify(e)) },
  { weight: 1, arbitrary: entry.map((e) => ` ${JSON.stringify(e)}\t`) },
  { weight: 2, arbitrary: fc.constantFrom('not json', '{"run_id": "a"', '', '   ', '[1,2]', 'null', '"str"', '{"run_id":"b","status":"x"}', '{}}') },
);

type Op =
  | { k: 'append'; entries: Record<string, unknown>[] }
  | { k: 'raw'; lines: string[] }
  | { k: 'spill'; entries: Record<string, unknown>[] }
  | { k: 'torn'; text: string; cut: number }
  | { k: 'complete' }
  | { k: 'rotate' }
  | { k: 'aggregate'; report?: boolean }
  | { k: 'rebuild' }
  | { k: 'retention'; keep: number }
  | { k: 'crash'; at: 'before-checkpoint' | 'after-reset' | 'retention-after-fold' }
  | { k: 'restore'; pick: number }
  | { k: 'drop-checkpoint' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.array(entry, { minLength: 1, maxLength: 6 }).map((entries) => ({ k: 'append' as const, entries })) },
  { weight: 3, arbitrary: fc.array(rawLine, { minLength: 1, maxLength: 4 }).map((lines) => ({ k: 'raw' as const, lines })) },
  { weight: 2, arbitrary: fc.array(entry, { minLength: 1, maxLength: 3 }).map((entries) => ({ k: 'spill' as const, entries })) },
  { weight: 2, arbitrary: fc.tuple(entry, fc.nat()).map(([e, n]) => ({ k: 'torn' as const, text: JSON.stringify(e), cut: n })) },
  { weight: 2, arbitrary: fc.constant({ k: 'complete' as const }) },
  { weight: 3, arbitrary: fc.constant({ k: 'rotate' as const }) },
  { weight: 7, arbitrary: fc.boolean().map((report) => ({ k: 'aggregate' as const, report })) },
  { weight: 1, arbitrary: fc.constant({ k: 'rebuild' as const }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 2 }).map((keep) => ({ k: 'retention' as const, keep })) },
  { weight: 2, arbitrary: fc.constantFrom('before-checkpoint', 'after-reset', 'retention-after-fold').map((at) => ({ k: 'crash' as const, at })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ k: 'restore' as const, pick })) },
  { weight: 1, arbitrary: fc.constant({ k: 'drop-checkpoint' as const }) },
);

const storeConfig = fc.record({
  maxLines: fc.constantFrom(0, 2, 3, 5),
  maxBytes: fc.constantFrom(0, 500, 1500),
  compress: fc.constantFrom('none', 'gzip'),
});

// ---- the model --------------------------------------------------------------

/** Every byte that reached the active file and was not moved away, as complete lines plus a tail. */
class Model {
  lines: string[] = [];
  tail = '';
  tornRest = '';
  /** Spilled to metrics.pending/ by a writer that found the lock busy. */
  pending: string[] = [];

  write(text: string): void {
    const parts = (this.tail + text).split('\n');
    this.tail = parts.pop()!;
    this.lines.push(...parts);
  }

  /** A process took the writer lock: it moved the torn tail to metrics.corrupt/, then merged pending entries. */
  locked(): void {
    this.tail = '';
    this.tornRest = '';
    for (const l of this.pending) this.write(`${l}\n`);
    this.pending = [];
  }

  /** aggregate (and retention with nothing to delete) takes the writer lock only when something is pending. */
  aggregated(): void {
    if (this.pending.length > 0) this.locked();
  }

  outputs(): Outputs {
    const state = orchestratorReducer.init();
    const report = reportReducer.init();
    const seen = new Set<string>();
    const counts = { lines: 0, malformed: 0, invalid: 0, duplicates: 0, runs: 0 };
    for (const text of this.lines) {
      if (text.trim() === '') continue;
      counts.lines++;
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        counts.malformed++;
        continue;
      }
      const e = v as Record<string, unknown>;
      const ok = typeof v === 'object' && v !== null && !Array.isArray(v)
        && ['run_id', 'status', 'recorded_at'].every((f) => typeof e[f] === 'string' && (e[f] as string).trim() !== '');
      if (!ok) {
        counts.invalid++;
        continue;
      }
      const id = (e['run_id'] as string).trim();
      if (seen.has(id)) {
        counts.duplicates++;
        continue;
      }
      seen.add(id);
      counts.runs++;
      orchestratorReducer.step(state, e);
      reportReducer.step(report, e);
    }
    const out: Outputs = {};
    const files = counts.runs > 0 ? orchestratorReducer.outputs(state, { now: 'model', existing: () => undefined }) : [];
    for (const rel of ['metrics/baseline.json', 'metrics/post-rollout.json', 'metrics/completeness.json', 'metrics/per-epoch.json', 'metrics/mttr-delta.json', 'state.json']) {
      const f = files.find((x) => `${x.place === 'out' ? '' : 'metrics/'}${x.name}` === rel);
      if (!f) {
        out[rel] = undefined;
        continue;
      }
      const { updated_at: _t, ...rest } = JSON.parse(JSON.stringify(f.data)) as Record<string, unknown>;
      out[rel] = rest;
    }
    out['counts'] = counts;
    out['report'] = reportReducer.toJSON(report);
    return out;
  }
}

/** Runs `work` with a fault thrown at `step`; true when it fired. */
async function withStepFault(step: Step, work: () => Promise<unknown>): Promise<boolean> {
  const r = await withFault({ step, action: 'throw' }, work);
  if (r.error !== undefined && !/injected fault/.test((r.error as Error).message)) throw r.error;
  return r.fired;
}

// ---- the property -----------------------------------------------------------

async function runHistory(cfg: { maxLines: number; maxBytes: number; compress: string }, ops: Op[]): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'codex-metrics-prop-'));
  const root = join(scratch, 'root');
  const state = join(root, 'metrics', 'aggregate-state.json');
  const model = new Model();
  const saved: string[] = [];
  const trace: string[] = [];
  const expectModel = async (when: string) => {
    const { counts, report, ...want } = model.outputs();
    expect(await readOutputs(root), `${when}\n${trace.join('\n')}`).to.deep.equal(want);
    return { counts, report };
  };
  /** The report reducer's pass, from its own checkpoint, against the model. */
  const expectReport = async (when: string, rebuild = false) => {
    const r = await aggregate({ dir: root, log: quietLog, reducer: reportReducer, rebuild });
    model.aggregated();
    expect(reportReducer.toJSON(r.state as ReportState), `${when}\n${trace.join('\n')}`).to.deep.equal(model.outputs()['report']);
  };
  try {
    await mkdir(root);
    const rec = await Recorder.open({ dir: root, ...cfg, log: quietLog });
    for (const o of ops) {
      trace.push(JSON.stringify(o).slice(0, 160));
      switch (o.k) {
        case 'append':
          await rec.append(o.entries);
          model.locked();
          for (const e of o.entries) model.write(`${JSON.stringify(e)}\n`);
          break;
        case 'spill': {
          const lines = o.entries.map((e) => JSON.stringify(e));
          await spill(storePaths(root), lines, false);
          model.pending.push(...lines);
          break;
        }
        case 'raw': {
          const text = `${o.lines.join('\n')}\n`;
          await appendRaw(root, text);
          model.write(text);
          break;
        }
        case 'torn': {
          const cut = 1 + (o.cut % (o.text.length - 1));
          await appendRaw(root, o.text.slice(0, cut));
          model.write(o.text.slice(0, cut));
          model.tornRest = `${o.text.slice(cut)}\n`;
          break;
        }
        case 'complete':
          if (model.tornRest) {
            await appendRaw(root, model.tornRest);
            model.write(model.tornRest);
            model.tornRest = '';
          }
          break;
        case 'rotate':
          await rec.rotate();
          model.locked();
          break;
        case 'aggregate': {
          const r = await aggregate({ dir: root, log: quietLog });
          model.aggregated();
          const { counts } = await expectModel('after aggregate');
          expect(r.totals, trace.join('\n')).to.deep.equal(counts);
          saved.push(await readFile(state, 'utf8'));
          if (o.report) await expectReport('after a report pass');
          break;
        }
        case 'rebuild':
          await aggregate({ dir: root, log: quietLog, rebuild: true });
          model.aggregated();
          await expectModel('after rebuild');
          break;
        case 'retention': {
          const r = await retention({ dir: root, retention: { maxSegments: o.keep }, log: quietLog, reducers: REDUCERS });
          // Deleting takes the writer lock; with nothing to delete, only pending entries do.
          if (r.deleted.length > 0) model.locked();
          else model.aggregated();
          break;
        }
        case 'crash':
          if (o.at === 'retention-after-fold') {
            // Dies after the fold, before the writer lock; with nothing to fold it only merges pending entries.
            const fired = await withStepFault('retention:after-fold', () => retention({ dir: root, retention: { maxSegments: 0 }, log: quietLog, reducers: REDUCERS }));
            if (!fired) model.aggregated();
          } else {
            await withStepFault(`aggregate:${o.at}`, () => aggregate({ dir: root, log: quietLog, rebuild: o.at === 'after-reset' }));
            model.aggregated();
          }
          break;
        case 'restore':
          // As if the process died between writing the index and outputs and writing this checkpoint.
          if (saved.length > 0) await writeFile(state, saved[o.pick % saved.length]!);
          break;
        case 'drop-checkpoint':
          await rm(state, { force: true });
          break;
      }
    }
    const last = await aggregate({ dir: root, log: quietLog });
    model.aggregated();
    const { counts } = await expectModel('final incremental pass');
    expect(last.totals).to.deep.equal(counts);
    await expectReport('final incremental report pass');
    await expectReport('report rebuild', true);
    const oracle = await rebuildInCopy(root, scratch);
    expect(await readOutputs(root), trace.join('\n')).to.deep.equal(oracle.outputs);
    expect(oracle.result.totals).to.deep.equal(counts);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

describe('aggregate: incremental equals rebuild (property)', function () {
  this.timeout(180_000);

  it('for random histories of appends, seals, retention, crashes and aggregations', async () => {
    await fc.assert(
      fc.asyncProperty(storeConfig, fc.array(op, { minLength: 1, maxLength: 40 }), (cfg, ops) => runHistory(cfg, ops)),
      {
        numRuns: Number(process.env['PROPERTY_RUNS'] ?? 60),
        examples: [
          // Found by this property: retention folded lines appended after the checkpoint, and
          // the next pass, with nothing after the base, kept the stale outputs.
          [
            { maxLines: 0, maxBytes: 0, compress: 'none' },
            [
              { k: 'append', entries: [{ run_id: 'a', status: 'succeeded', recorded_at: 't', duration_seconds: 0 }] },
              { k: 'aggregate' },
              { k: 'append', entries: [{ run_id: 'b', status: 'failed', recorded_at: 't' }] },
              { k: 'rotate' },
              { k: 'retention', keep: 0 },
              { k: 'aggregate' },
            ],
          ],
        ],
      },
    );
  });
});
