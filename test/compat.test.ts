import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  appendMetricsEntry,
  ensureMetricsTrailingNewline,
  mergePendingMetricsEntries,
  updateMetricsAggregates,
  withMetricsLock,
  type EnvironmentPaths,
} from '../lib/compat.js';
import { readOutputs, rebuildInCopy } from './aggregate/helpers.js';
import { runEntry } from './helpers/cli.js';
import { quietLog, useTmpDir } from './helpers/tmp.js';

const line = (i: number) => JSON.stringify(runEntry(i));
const runIds = (text: string) => text.split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { run_id: string }).run_id);

describe('codex-metrics/compat: the orchestrator\'s calls, called as it calls them', () => {
  const tmp = useTmpDir();
  let env: EnvironmentPaths;
  const root = () => join(env.runsRoot, env.taskId);
  const metricsPath = () => join(root(), 'metrics.json');
  const pendingDir = () => join(root(), 'metrics.pending');
  const opts = { log: quietLog };

  beforeEach(() => {
    env = { repoRoot: tmp.dir, runsRoot: join(tmp.dir, '.runs'), outRoot: join(tmp.dir, 'out'), taskId: 'autonomy-upgrade' };
  });

  it('is the package subpath codex-metrics/compat', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { default: string }> };
    expect(pkg.exports['./compat']!.default).to.equal('./dist/lib/compat.js');
    const viaName = await import('codex-metrics/compat');
    expect(viaName.updateMetricsAggregates).to.be.a('function');
  });

  it('runs the orchestrator\'s recorder body inside withMetricsLock: merge, guard, append, merge, aggregate', async () => {
    await mkdir(pendingDir(), { recursive: true });
    await writeFile(join(pendingDir(), 'entry-1.jsonl'), `${line(1)}\n`);
    await writeFile(metricsPath(), line(0)); // no final newline, as older writers left it
    const { acquired } = await withMetricsLock(env, async () => {
      await mergePendingMetricsEntries(env, opts);
      // What the orchestrator's appendEntry does, verbatim.
      await ensureMetricsTrailingNewline(metricsPath(), opts);
      await appendFile(metricsPath(), `${line(2)}\n`, 'utf8');
      // Another recorder spilled meanwhile; the second merge picks it up.
      await writeFile(join(pendingDir(), `run-3-${Date.now()}-${randomUUID()}.jsonl`), `${line(3)}\n`);
      expect(await mergePendingMetricsEntries(env, opts)).to.equal(1);
      await updateMetricsAggregates(env, opts);
    }, opts);
    expect(acquired).to.equal(true);
    expect(runIds(await readFile(metricsPath(), 'utf8'))).to.deep.equal(['run-0', 'run-1', 'run-2', 'run-3']);
    expect(await readdir(pendingDir())).to.deep.equal([]);
    const post = JSON.parse(await readFile(join(root(), 'metrics', 'post-rollout.json'), 'utf8'));
    expect(post.total_runs).to.equal(4);
    expect(JSON.parse(await readFile(join(env.outRoot, env.taskId, 'state.json'), 'utf8'))).to.have.property('safety');
    expect(await readOutputs(root(), join(env.outRoot, env.taskId))).to.deep.equal((await rebuildInCopy(root(), tmp.dir, { out: join(tmp.dir, 'copy-out') })).outputs);
  });

  it('mergePendingMetricsEntries returns how many entries it merged, skipping blank lines; 0 for a task with nothing', async () => {
    expect(await mergePendingMetricsEntries(env, opts)).to.equal(0);
    await mkdir(pendingDir(), { recursive: true });
    await writeFile(join(pendingDir(), 'entry-whitespace.jsonl'), `  \n${line(1)}\n\t\n${line(2)}\n\n`);
    expect(await mergePendingMetricsEntries(env, opts)).to.equal(2);
    expect(await readFile(metricsPath(), 'utf8')).to.equal(`${line(1)}\n${line(2)}\n`);
  });

  it('withMetricsLock answers {acquired: false} while the orchestrator\'s "locked" holds, and runs nothing', async () => {
    await mkdir(root(), { recursive: true });
    await writeFile(join(root(), 'metrics.lock'), 'locked');
    let ran = false;
    const r = await withMetricsLock(env, async () => {
      ran = true;
    }, opts);
    expect(r).to.deep.equal({ acquired: false });
    expect(ran).to.equal(false);
  });

  it('appendMetricsEntry records and aggregates, or spills and skips the aggregation when the lock is busy, as the orchestrator does', async () => {
    const first = await appendMetricsEntry(env, runEntry(1), opts);
    expect(first).to.include({ recorded: true, spilled: false });
    expect(first.aggregate?.totalRuns).to.equal(1);
    await writeFile(join(root(), 'metrics.lock'), 'locked');
    const second = await appendMetricsEntry(env, runEntry(2), opts);
    expect(second).to.deep.equal({ recorded: false, spilled: true });
    expect(await readdir(pendingDir())).to.have.length(1);
    expect(JSON.parse(await readFile(join(root(), 'metrics', 'post-rollout.json'), 'utf8')).total_runs).to.equal(1);
    await writeFile(join(root(), 'metrics.lock'), '');
    const { rm } = await import('node:fs/promises');
    await rm(join(root(), 'metrics.lock'));
    const third = await appendMetricsEntry(env, runEntry(3), opts);
    expect(third.aggregate?.totalRuns).to.equal(3);
    expect(runIds(await readFile(metricsPath(), 'utf8'))).to.deep.equal(['run-1', 'run-2', 'run-3']);
  });

  it('ensureMetricsTrailingNewline outside a lock applies the torn tail rule under the lock', async () => {
    await mkdir(root(), { recursive: true });
    await writeFile(metricsPath(), `${line(1)}\n${line(2)}`);
    await ensureMetricsTrailingNewline(metricsPath(), opts);
    expect(await readFile(metricsPath(), 'utf8')).to.equal(`${line(1)}\n${line(2)}\n`);
    await appendFile(metricsPath(), '{"run_id":"half');
    await ensureMetricsTrailingNewline(metricsPath(), opts);
    expect(await readFile(metricsPath(), 'utf8')).to.equal(`${line(1)}\n${line(2)}\n`);
    expect(await readdir(join(root(), 'metrics.corrupt'))).to.have.length(1);
  });

  it('adopts an existing metrics.json in place: the orchestrator\'s baseline.json stays byte for byte, the other outputs keep their values', async () => {
    await mkdir(join(root(), 'metrics'), { recursive: true });
    const text = `${line(1)}\n${line(2)}\n\n${line(3)}\n`;
    await writeFile(metricsPath(), text);
    // As the orchestrator's writeJsonAtomic left it (its own spacing), from an entry since gone.
    const baseline = '{"run_id":"run-0","recorded_at":"2025-11-05T00:05:00Z","status":"succeeded","duration_seconds":300,"completion_rate":1}';
    await writeFile(join(root(), 'metrics', 'baseline.json'), baseline);
    await updateMetricsAggregates(env, opts);
    expect(await readFile(join(root(), 'metrics', 'baseline.json'), 'utf8')).to.equal(baseline);
    expect(await readFile(metricsPath(), 'utf8')).to.equal(text);
    const { orchestratorOutputs } = await import('./helpers/orchestrator.js');
    expect(await readOutputs(root(), join(env.outRoot, env.taskId))).to.deep.equal(orchestratorOutputs(text, JSON.parse(baseline)));
  });
});
