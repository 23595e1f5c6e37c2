import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { outputOf } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LINE = 'A rotating, segmented JSON Lines store for run metrics.';

/** A copy of the package as installed: bin/, config/, package.json and the given files of dist/lib/. */
async function install(dir: string, distFiles: (name: string) => boolean): Promise<string> {
  await cp(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  await cp(join(ROOT, 'config'), join(dir, 'config'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(dir, 'package.json'));
  await cp(join(ROOT, 'dist', 'lib'), join(dir, 'dist', 'lib'), { recursive: true, filter: (src) => src === join(ROOT, 'dist', 'lib') || distFiles(src.slice(join(ROOT, 'dist', 'lib').length + 1)) });
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'bin', 'codex-metrics');
}

function run(bin: string, args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return outputOf(child);
}

describe('the bin and its bundle', function () {
  const tmp = useTmpDir();

  it('uses a code cache only for the build that made it: a rebuilt bundle of the same size runs its own code', async function () {
    const bin = await install(tmp.dir, (f) => f.startsWith('cli.bundle'));
    const bundleFile = join(tmp.dir, 'dist', 'lib', 'cli.bundle.cjs');
    const built = await readFile(bundleFile, 'utf8');
    expect(built).to.include(LINE);
    expect((await readdir(join(tmp.dir, 'dist', 'lib'))).sort()).to.deep.equal(['cli.bundle.cache', 'cli.bundle.cjs']);

    // The same build edited in place (same first line, same length): V8's own check passes and the
    // cached code, with its old text, runs. This shows the cache is in use, and why its first line is checked.
    const edited = built.replace(LINE, `B${LINE.slice(1)}`);
    expect(edited.length).to.equal(built.length);
    await writeFile(bundleFile, edited);
    const stale = await run(bin, ['--help']);
    expect(stale.code, stale.stderr).to.equal(0);
    expect(stale.stdout).to.include(LINE);

    // A rebuild names a new build on its first line: the old cache is not used.
    const rebuilt = edited.replace(/^\/\/ codex-metrics CLI bundle [0-9a-f-]{36}/, `// codex-metrics CLI bundle ${randomUUID()}`);
    expect(rebuilt.length).to.equal(built.length);
    await writeFile(bundleFile, rebuilt);
    const fresh = await run(bin, ['--help']);
    expect(fresh.code, fresh.stderr).to.equal(0);
    expect(fresh.stdout).to.include(`B${LINE.slice(1)}`);
  });

  it('runs from source when V8 refuses the cache (other flags) or there is none', async function () {
    const bin = await install(tmp.dir, (f) => f.startsWith('cli.bundle'));
    const flags = spawn(process.execPath, ['--no-opt', bin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r1 = await outputOf(flags);
    expect([r1.code, r1.stdout.includes(LINE)]).to.deep.equal([0, true]);
    await rm(join(tmp.dir, 'dist', 'lib', 'cli.bundle.cache'));
    const r2 = await run(bin, ['--help']);
    expect([r2.code, r2.stdout.includes(LINE)]).to.deep.equal([0, true]);
  });

  it('runs the compiled modules when there is no bundle (built without esbuild)', async function () {
    const bin = await install(tmp.dir, (f) => !f.startsWith('cli.bundle'));
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = await run(bin, ['--version']);
    expect([version.code, version.stdout]).to.deep.equal([0, `${pkg.version}\n`]);
    const store = join(tmp.dir, 'store');
    await mkdir(store);
    const child = spawn(process.execPath, [bin, 'record', '--aggregate', '--dir', store], { stdio: ['pipe', 'pipe', 'pipe'] });
    const done = outputOf(child);
    child.stdin.end('{"run_id":"r1","status":"succeeded","recorded_at":"2026-01-06T07:49:03Z"}\n');
    const rec = await done;
    expect(rec.code, rec.stderr).to.equal(0);
    expect(JSON.parse(await readFile(join(store, 'metrics', 'post-rollout.json'), 'utf8'))).to.include({ total_runs: 1, succeeded_runs: 1 });
  });

  it('a bundle cut short (a build interrupted or under way) fails in one line that says to build', async function () {
    const bin = await install(tmp.dir, (f) => f.startsWith('cli.bundle'));
    const bundleFile = join(tmp.dir, 'dist', 'lib', 'cli.bundle.cjs');
    await writeFile(bundleFile, (await readFile(bundleFile, 'utf8')).slice(0, 100_000));
    const r = await run(bin, ['--help']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.match(/^codex-metrics: cannot load the compiled CLI \(run "npm run build"\): .+\n$/);
  });

  it("makes its code cache from a scratch store: the builder's CODEX_METRICS_* settings reach nothing", async function () {
    const bin = await install(tmp.dir, (f) => f === 'cli.bundle.cjs');
    await mkdir(join(tmp.dir, 'scripts'));
    await cp(join(ROOT, 'scripts', 'code-cache.cjs'), join(tmp.dir, 'scripts', 'code-cache.cjs'));
    const archive = join(tmp.dir, 'their-archive');
    const config = join(tmp.dir, 'their-config.json');
    await writeFile(config, JSON.stringify({ compress: 'gzip' }));
    const child = spawn(process.execPath, [join(tmp.dir, 'scripts', 'code-cache.cjs')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CODEX_METRICS_ARCHIVE: archive, CODEX_METRICS_MAX_LINES: '1', CODEX_METRICS_CONFIG: config, CODEX_METRICS_LOG_LEVEL: 'info' },
    });
    const made = await outputOf(child);
    expect(made.code, made.stderr).to.equal(0);
    expect(made.stderr).to.equal('');
    expect(await readdir(tmp.dir)).to.not.include('their-archive');
    const bundle = await readFile(join(tmp.dir, 'dist', 'lib', 'cli.bundle.cjs'), 'utf8');
    const cache = await readFile(join(tmp.dir, 'dist', 'lib', 'cli.bundle.cache'));
    expect(cache.subarray(0, cache.indexOf(10)).toString()).to.equal(bundle.slice(0, bundle.indexOf('\n')));
    expect((await run(bin, ['--help'])).code).to.equal(0);
  });

  it('leaves nothing of an earlier build behind', async function () {
    const names = (await readdir(join(ROOT, 'dist', 'lib'))).filter((f) => f.startsWith('cli.bundle'));
    expect(names.sort()).to.deep.equal(['cli.bundle.cache', 'cli.bundle.cjs']);
    const bundle = await readFile(join(ROOT, 'dist', 'lib', 'cli.bundle.cjs'), 'utf8');
    const cache = await readFile(join(ROOT, 'dist', 'lib', 'cli.bundle.cache'));
    expect(cache.subarray(0, cache.indexOf(10)).toString()).to.equal(bundle.slice(0, bundle.indexOf('\n')));
  });
});
