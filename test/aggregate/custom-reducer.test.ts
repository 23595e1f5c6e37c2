import { expect } from 'chai';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { orchestratorReducer } from '../../lib/aggregate/orchestrator.js';
import type { Reducer } from '../../lib/aggregate/reducer.js';
import { retention } from '../../lib/retention/retention.js';
import { Recorder } from '../../lib/store/recorder.js';
import { runCli } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { appendRaw, line, readOutput, run } from './helpers.js';

interface Pipeline {
  runs: number;
  failed: number;
  seconds: number;
}

/** Runs, failures and summed duration per pipeline_id, in first-seen order. */
const pipelines: Reducer<Map<string, Pipeline>> = {
  name: 'pipelines',
  version: 1,
  init: () => new Map(),
  step(state, e) {
    const id = typeof e['pipeline_id'] === 'string' ? e['pipeline_id'] : '(none)';
    let p = state.get(id);
    if (!p) state.set(id, (p = { runs: 0, failed: 0, seconds: 0 }));
    p.runs++;
    if (e['status'] !== 'succeeded') p.failed++;
    if (typeof e['duration_seconds'] === 'number') p.seconds += e['duration_seconds'];
  },
  toJSON: (state) => [...state],
  fromJSON: (json) => new Map(json as Array<[string, Pipeline]>),
  outputs: (state, ctx) => [{ place: 'metrics', name: 'pipelines.json', data: { pipelines: [...state].map(([id, p]) => ({ id, ...p })), updated_at: ctx.now } }],
};

const exists = (path: string) => access(path).then(() => true, () => false);

describe('aggregate: a custom reducer through the API', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');
  const metrics = () => join(root(), 'metrics');

  it('gets its own checkpoint and run-id index, and exact incremental results', async () => {
    const rec = await Recorder.open({ dir: root(), maxLines: 3, log: quietLog });
    await rec.append([
      run('1', { pipeline_id: 'build', duration_seconds: 0.1 }),
      run('2', { pipeline_id: 'test', status: 'failed', duration_seconds: 0.2 }),
      run('3', { pipeline_id: 'build', duration_seconds: 0.2 }),
      run('1', { pipeline_id: 'test', status: 'failed', duration_seconds: 50 }),
      run('4', { duration_seconds: 1 }),
    ]);
    await appendRaw(root(), 'oops\n');
    let r = await aggregate({ dir: root(), log: quietLog, reducer: pipelines });
    expect(r).to.include({ mode: 'incremental', linesRead: 6, malformed: 1, duplicates: 1, totalRuns: 4 });
    expect(await exists(join(metrics(), 'aggregate-state.pipelines.json'))).to.equal(true);
    expect(await exists(join(metrics(), 'run-ids.pipelines'))).to.equal(true);
    // The built-in reducer's files are untouched: it has not run.
    for (const f of ['aggregate-state.json', 'run-ids', 'post-rollout.json', 'baseline.json']) expect(await exists(join(metrics(), f)), f).to.equal(false);
    expect((await readOutput(root(), 'metrics/pipelines.json')).pipelines).to.deep.equal([
      { id: 'build', runs: 2, failed: 0, seconds: 0.1 + 0.2 },
      { id: 'test', runs: 1, failed: 1, seconds: 0.2 },
      { id: '(none)', runs: 1, failed: 0, seconds: 1 },
    ]);

    // The built-in reducer beside it: its own pass over the same lines, its own checkpoint.
    const o = await aggregate({ dir: root(), log: quietLog });
    expect(o).to.include({ mode: 'incremental', totalRuns: 4, duplicates: 1 });
    const custom = JSON.parse(await readFile(join(metrics(), 'aggregate-state.pipelines.json'), 'utf8'));
    const builtIn = JSON.parse(await readFile(join(metrics(), 'aggregate-state.json'), 'utf8'));
    expect(custom.reducer).to.deep.equal({ name: 'pipelines', version: 1 });
    expect(builtIn.reducer).to.deep.equal({ name: 'orchestrator', version: 1 });

    // Incremental: duplicates of ids from sealed segments, new pipelines, floats.
    await rec.append([
      run('3', { pipeline_id: 'deploy' }),
      run('5', { pipeline_id: 'deploy', status: 'cancelled', duration_seconds: 0.3 }),
      run('6', { pipeline_id: 'build', duration_seconds: 0.3 }),
      run('2', { pipeline_id: 'build' }),
    ]);
    r = await aggregate({ dir: root(), log: quietLog, reducer: pipelines });
    expect(r).to.include({ mode: 'incremental', linesRead: 4, duplicates: 2, totalRuns: 6 });
    expect((await readOutput(root(), 'metrics/pipelines.json')).pipelines).to.deep.equal([
      { id: 'build', runs: 3, failed: 0, seconds: 0.1 + 0.2 + 0.3 },
      { id: 'test', runs: 1, failed: 1, seconds: 0.2 },
      { id: '(none)', runs: 1, failed: 0, seconds: 1 },
      { id: 'deploy', runs: 1, failed: 1, seconds: 0.3 },
    ]);
    const rebuilt = await aggregate({ dir: root(), log: quietLog, reducer: pipelines, rebuild: true });
    expect([...(rebuilt.state as Map<string, Pipeline>)]).to.deep.equal([...(r.state as Map<string, Pipeline>)]);
  });

  it('a built-in rebuild killed half way does not leave the custom reducer trusting a purged index', async () => {
    const rec = await Recorder.open({ dir: root(), maxLines: 2, log: quietLog });
    await rec.append(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => run(id, { pipeline_id: 'p' })));
    await aggregate({ dir: root(), log: quietLog, reducer: pipelines });
    await aggregate({ dir: root(), log: quietLog });
    // A retained base, so a rebuild purges only the ids after it and the index directory stays.
    await retention({ dir: root(), retention: { maxSegments: 2 }, reducers: [orchestratorReducer, pipelines], log: quietLog });
    const killed = await runCli(['aggregate', '--dir', root(), '--rebuild'], { fault: { step: 'aggregate:after-reset', action: 'kill' } });
    expect(killed.signal).to.equal('SIGKILL');
    expect(await readdir(join(metrics(), 'run-ids'))).to.not.be.empty;

    // e and f are in surviving segments; g in the active file: all duplicates.
    await appendRaw(root(), line(run('e', { pipeline_id: 'p' })) + line(run('g', { pipeline_id: 'p' })) + line(run('h', { pipeline_id: 'p' })));
    const r = await aggregate({ dir: root(), log: quietLog, reducer: pipelines });
    expect(r).to.include({ mode: 'incremental', duplicates: 2, totalRuns: 8 });
    expect((await readOutput(root(), 'metrics/pipelines.json')).pipelines).to.deep.equal([{ id: 'p', runs: 8, failed: 0, seconds: 0 }]);
    // The killed built-in pass left no checkpoint: the next one rebuilds and agrees.
    const o = await aggregate({ dir: root(), log: quietLog });
    expect(o).to.include({ mode: 'rebuild', totalRuns: 8 });
    expect(o.totals.duplicates).to.equal(2);
  });
});
