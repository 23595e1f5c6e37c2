/**
 * A long-lived repository, as an orchestrator drives it: every run is its own
 * short-lived process that appends one entry with `codex-metrics record`
 * (rotation configured only through the environment), several at once. At
 * the end, the segment listing and one aggregate.
 *
 *   node dist/examples/long-lived-repo.js [DIR] [RUNS]
 */
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32, syntheticRun } from './synthetic-runs.js';

const BIN = fileURLToPath(new URL('../../bin/codex-metrics', import.meta.url));
const PARALLEL = 4;

function cli(args: string[], input: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
    child.stdin.end(input);
  });
}

async function main(): Promise<void> {
  const dir = process.argv[2] || (await mkdtemp(join(tmpdir(), 'codex-metrics-repo-')));
  const runs = Number(process.argv[3] ?? 60);
  const env = { ...process.env, CODEX_METRICS_DIR: dir, CODEX_METRICS_MAX_LINES: process.env['CODEX_METRICS_MAX_LINES'] ?? '8' };
  console.log(`metrics root ${dir}; ${runs} runs, ${PARALLEL} at a time, CODEX_METRICS_MAX_LINES=${env.CODEX_METRICS_MAX_LINES}`);
  const rand = mulberry32(1);
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < runs) {
      const entry = syntheticRun(next++, rand);
      const { code } = await cli(['record', '--json'], `${JSON.stringify(entry)}\n`, env);
      if (code !== 0) failed++;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const listing = await cli(['segments'], '', env);
  console.log(listing.stdout);
  const agg = await cli(['aggregate', '--json'], '', env);
  console.log(`aggregate: ${agg.stdout.trim()}`);
  if (failed > 0) {
    console.error(`${failed} record processes failed`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
