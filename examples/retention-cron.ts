/**
 * Retention for every task of a repository, as a nightly cron job runs it:
 *
 *   node dist/examples/retention-cron.js [RUNS_ROOT]     (or: npm run retention -- [RUNS_ROOT])
 *
 * RUNS_ROOT is the argument, else $CODEX_METRICS_RUNS_ROOT, else ./.runs; each
 * directory in it is one task's metrics root (.runs/<task-id>/). The policy
 * comes from where the CLI takes it: CODEX_METRICS_RETENTION_MAX_SEGMENTS /
 * _MAX_AGE / _MAX_BYTES, the CODEX_METRICS_CONFIG file, config/default.json.
 * One line per task on stdout ("task=<id> deleted=<n> kept=<n>", or
 * "task=<id> failed=<reason>"); one task failing does not stop the others,
 * but makes the exit status 1. A policy that does not parse exits 2 before
 * any task is touched.
 *
 *   15 3 * * *  cd /srv/repo && CODEX_METRICS_RETENTION_MAX_AGE=90d node node_modules/codex-metrics/dist/examples/retention-cron.js
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createLogger, loadConfig, retention, UsageError, type Config } from '../lib/index.js';

async function tasksUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  // Symlinked task directories are skipped like everything else the store does not own.
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

async function main(): Promise<number> {
  const root = resolve(process.argv[2] || process.env['CODEX_METRICS_RUNS_ROOT'] || '.runs');
  let config: Config;
  try {
    // Parsed once, so a bad value is one clear error instead of one per task.
    config = loadConfig({}, { defaultLogLevel: 'warn' });
  } catch (err) {
    console.error(`retention-cron: ${(err as Error).message}`);
    return err instanceof UsageError ? 2 : 1;
  }
  const log = createLogger(config.logLevel);
  if (Object.values(config.retention).every((v) => v === undefined)) {
    log.warn('no retention limit set (CODEX_METRICS_RETENTION_*): only finishing interrupted runs');
  }
  let tasks: string[];
  try {
    tasks = await tasksUnder(root);
  } catch (err) {
    console.error(`retention-cron: cannot list tasks in ${root}: ${(err as Error).message}`);
    return 1;
  }
  let failed = 0;
  for (const task of tasks) {
    try {
      const r = await retention({ config: { ...config, dir: join(root, task) }, log: log.child({ task }) });
      console.log(`task=${task} deleted=${r.deleted.length} kept=${r.kept}`);
    } catch (err) {
      failed++;
      console.log(`task=${task} failed=${JSON.stringify((err as Error).message)}`);
    }
  }
  if (failed > 0) console.error(`retention-cron: ${failed} of ${tasks.length} tasks failed`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
