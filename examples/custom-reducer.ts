/**
 * A reducer of your own through the library API: runs and failure rate per
 * pipeline_id. It gets its own checkpoint (metrics/aggregate-state.pipelines.json)
 * and is exact incrementally like the built-in one.
 *
 *   node dist/examples/custom-reducer.js [DIR]
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aggregate, createLogger, Recorder, type Reducer } from '../lib/index.js';
import { mulberry32, syntheticRun } from './synthetic-runs.js';

interface PipelineStats {
  runs: number;
  failed: number;
}

type State = Map<string, PipelineStats>;

export const pipelinesReducer: Reducer<State> = {
  name: 'pipelines',
  version: 1,
  init: () => new Map(),
  step(state, entry) {
    const id = typeof entry['pipeline_id'] === 'string' ? entry['pipeline_id'] : '(none)';
    let s = state.get(id);
    if (!s) state.set(id, (s = { runs: 0, failed: 0 }));
    s.runs++;
    if (entry['status'] !== 'succeeded') s.failed++;
  },
  // Maps as arrays of pairs: insertion order survives the checkpoint.
  toJSON: (state) => [...state],
  fromJSON: (json) => new Map(json as Array<[string, PipelineStats]>),
  outputs: (state, ctx) => [
    {
      place: 'metrics',
      name: 'pipelines.json',
      data: {
        pipelines: [...state].map(([pipeline_id, s]) => ({ pipeline_id, runs: s.runs, failure_rate: s.failed / s.runs })),
        updated_at: ctx.now,
      },
    },
  ],
};

async function main(): Promise<void> {
  const dir = process.argv[2] || (await mkdtemp(join(tmpdir(), 'codex-metrics-pipelines-')));
  const log = createLogger('warn');
  const recorder = await Recorder.open({ dir, log, maxLines: 100 });
  const rand = mulberry32(3);
  for (let i = 0; i < 400; i += 40) {
    await recorder.append(Array.from({ length: 40 }, (_, k) => syntheticRun(i + k, rand)));
    const r = await aggregate({ dir, log, reducer: pipelinesReducer });
    console.log(`${r.mode.padEnd(11)} read ${String(r.linesRead).padStart(3)} new lines, ${r.totalRuns} runs`);
  }
  console.log(await readFile(join(dir, 'metrics', 'pipelines.json'), 'utf8'));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
