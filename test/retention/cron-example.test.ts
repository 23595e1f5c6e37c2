import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { useTmpDir } from '../helpers/tmp.js';
import { aggregateSnapshot, buildHistory, expectSameAggregates, listing, sealedFiles } from './history.js';

const SCRIPT = fileURLToPath(new URL('../../examples/retention-cron.js', import.meta.url));

function runCron(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { cwd: opts.cwd, env: { ...process.env, CODEX_METRICS_LOG_LEVEL: undefined, ...opts.env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('example: retention-cron', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  async function twoTasks(runs: string) {
    const alpha = await buildHistory(join(runs, 'alpha'), { entries: 40 });
    const beta = await buildHistory(join(runs, 'beta'), { entries: 25, maxLines: 4 });
    // Not a task: files and dot-directories beside the task directories.
    await writeFile(join(runs, 'README'), 'tasks live here\n');
    await mkdir(join(runs, '.cache'));
    return { alpha, beta, sealed: { alpha: await sealedFiles(alpha.paths), beta: await sealedFiles(beta.paths) } };
  }

  it('runs retention for every task under the root given as argument, one line per task', async () => {
    const runs = join(tmp.dir, 'repo', '.runs');
    const { alpha, beta, sealed } = await twoTasks(runs);
    const before = await aggregateSnapshot(alpha.options);
    const r = await runCron([runs], { env: { CODEX_METRICS_RETENTION_MAX_SEGMENTS: '2' } });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n')).to.deep.equal([
      `task=alpha deleted=${sealed.alpha.length - 2} kept=2`,
      `task=beta deleted=${sealed.beta.length - 2} kept=2`,
    ]);
    expect(await sealedFiles(alpha.paths)).to.deep.equal(sealed.alpha.slice(-2));
    expect(await sealedFiles(beta.paths)).to.deep.equal(sealed.beta.slice(-2));
    expectSameAggregates(await aggregateSnapshot(alpha.options, true), before);
  });

  it('defaults to ./.runs, or $CODEX_METRICS_RUNS_ROOT', async () => {
    const repo = join(tmp.dir, 'repo');
    const { sealed } = await twoTasks(join(repo, '.runs'));
    const keep = sealed.beta.length - 1;
    expect(sealed.alpha.length).to.be.greaterThan(keep);
    const byCwd = await runCron([], { cwd: repo, env: { CODEX_METRICS_RETENTION_MAX_SEGMENTS: String(keep) } });
    expect(byCwd.code, byCwd.stderr).to.equal(0);
    expect(byCwd.stdout.trim().split('\n')).to.deep.equal([`task=alpha deleted=${sealed.alpha.length - keep} kept=${keep}`, `task=beta deleted=1 kept=${keep}`]);
    const byEnv = await runCron([], { cwd: tmp.dir, env: { CODEX_METRICS_RUNS_ROOT: join(repo, '.runs'), CODEX_METRICS_RETENTION_MAX_SEGMENTS: '0' } });
    expect(byEnv.code, byEnv.stderr).to.equal(0);
    expect(byEnv.stdout.trim().split('\n')).to.deep.equal([`task=alpha deleted=${keep} kept=0`, `task=beta deleted=${keep} kept=0`]);
  });

  it('a failing task is reported on its line, the others still run, exit 1', async () => {
    const runs = join(tmp.dir, '.runs');
    const { beta, sealed } = await twoTasks(runs);
    // A task whose retained base cannot be trusted: retention must refuse rather than guess.
    await mkdir(join(runs, 'aaa-broken', 'metrics'), { recursive: true });
    await writeFile(join(runs, 'aaa-broken', 'metrics', 'retained-base.json'), '{"version": 99}');
    const r = await runCron([runs], { env: { CODEX_METRICS_RETENTION_MAX_SEGMENTS: '1' } });
    expect(r.code).to.equal(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).to.have.length(3);
    expect(lines[0]).to.match(/^task=aaa-broken failed=".*retained-base\.json.*"$/);
    expect(lines.slice(1)).to.deep.equal([`task=alpha deleted=${sealed.alpha.length - 1} kept=1`, `task=beta deleted=${sealed.beta.length - 1} kept=1`]);
    expect(await sealedFiles(beta.paths)).to.have.length(1);
    expect(r.stderr).to.contain('1 of 3 tasks failed');
  });

  it('a policy that does not parse: exit 2 before any task is touched', async () => {
    const runs = join(tmp.dir, '.runs');
    await twoTasks(runs);
    const files = await listing(runs);
    const r = await runCron([runs], { env: { CODEX_METRICS_RETENTION_MAX_AGE: 'fortnight' } });
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.contain('CODEX_METRICS_RETENTION_MAX_AGE').and.contain('fortnight');
    expect(await listing(runs)).to.deep.equal(files);
  });

  it('a missing root: exit 1 with a clear message', async () => {
    const r = await runCron([join(tmp.dir, 'nope')]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('cannot list tasks in').and.contain('nope');
  });
});
