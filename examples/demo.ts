/**
 * npm run demo: the main job on a temp store. Records a few thousand runs the
 * way an orchestrator does (small batches, rotation from the environment),
 * aggregates after every 500, then shows the segments and the outputs.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aggregate, createLogger, listSegments, loadConfig, Recorder, storeContext } from '../lib/index.js';
import { mulberry32, syntheticRun } from './synthetic-runs.js';

const RUNS = 3000;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'codex-metrics-demo-'));
  // As a long-lived repository would configure it: from the environment.
  process.env['CODEX_METRICS_MAX_LINES'] ??= '500';
  const config = loadConfig({ dir });
  // The duplicate below is reported as a warning; the demo prints its own summary instead.
  const log = createLogger(process.env['CODEX_METRICS_LOG_LEVEL'] ?? 'error');
  console.log(`metrics root: ${dir}`);
  console.log(`rotation: CODEX_METRICS_MAX_LINES=${config.maxLines}${config.maxBytes ? `, CODEX_METRICS_MAX_BYTES=${config.maxBytes}` : ''}\n`);

  const recorder = await Recorder.open({ config, log });
  const rand = mulberry32(42);
  let recorded = 0;
  const started = Date.now();
  let lastAggregate;
  while (recorded < RUNS) {
    const batch = [];
    for (let n = 1 + Math.floor(rand() * 5); n > 0 && recorded < RUNS; n--) batch.push(syntheticRun(recorded++, rand));
    await recorder.append(batch);
    if (recorded % 500 < batch.length) lastAggregate = await aggregate({ config, log });
  }
  // A run recorded twice (a retried orchestrator step) counts once.
  await recorder.append(syntheticRun(7, mulberry32(7)));
  lastAggregate = await aggregate({ config, log });
  await recorder.close();
  console.log(`recorded ${RUNS + 1} entries in ${Date.now() - started} ms, aggregating incrementally every 500\n`);

  console.log('segments:');
  for (const s of await listSegments(storeContext({ config, log }))) {
    console.log(`  ${String(s.seq).padStart(3)}  ${s.file.padEnd(44)} ${s.state.padEnd(6)} ${String(s.lines).padStart(4)} lines ${String(s.bytes).padStart(7)} bytes`);
  }

  console.log(`\nlast incremental aggregate: read ${lastAggregate!.linesRead} new line(s), ${lastAggregate!.duplicates} duplicate, ${lastAggregate!.totalRuns} runs in all`);
  for (const p of lastAggregate!.problems) console.log(`  skipped ${p.file}:${p.line} (${p.kind}: ${p.detail})`);
  const rebuild = await aggregate({ config, log, rebuild: true });
  console.log(`full rebuild for comparison: read ${rebuild.linesRead} lines, ${rebuild.duplicates} duplicate, ${rebuild.totalRuns} runs`);

  const post = JSON.parse(await readFile(join(dir, 'metrics', 'post-rollout.json'), 'utf8'));
  const mttr = JSON.parse(await readFile(join(dir, 'metrics', 'mttr-delta.json'), 'utf8'));
  const epochs = JSON.parse(await readFile(join(dir, 'metrics', 'per-epoch.json'), 'utf8'));
  console.log('\noutputs:');
  console.log(`  metrics/post-rollout.json  ${post.succeeded_runs}/${post.total_runs} succeeded (completion ${(post.completion_rate * 100).toFixed(1)}%, threshold met: ${post.meets_threshold})`);
  console.log(`  metrics/mttr-delta.json    MTTR ${mttr.current_mttr_seconds.toFixed(1)} s vs baseline ${mttr.baseline_mttr_seconds} s`);
  console.log(`  metrics/per-epoch.json     ${epochs.epochs.length} epochs`);
  console.log(`\ntry: bin/codex-metrics segments --dir ${dir}`);
}

main().catch((err) => {
  console.error(`demo failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
});
