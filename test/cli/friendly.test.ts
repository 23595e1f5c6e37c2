import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, jsonl, runCli, runEntry } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

/** Mount a tmpfs (tests run as root); false when this machine refuses. */
function mountTmpfs(dir: string, options: string): boolean {
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0;
}

function umount(dir: string): void {
  spawnSync('umount', [dir]);
}

describe('cli for people', function () {
  const tmp = useTmpDir();

  it('--version prints the package version', async function () {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect([r.code, r.stdout]).to.deep.equal([0, `${pkg.version}\n`]);
  });

  it('--help shows examples and every CODEX_METRICS_* variable', async function () {
    const r = await runCli(['--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/\nExamples:\n {2}\S/);
    for (const v of ['DIR', 'CONFIG', 'MAX_BYTES', 'MAX_LINES', 'ROTATE_INTERVAL', 'ROTATE_AT', 'COMPRESS', 'RETENTION_MAX_SEGMENTS', 'RETENTION_MAX_AGE', 'RETENTION_MAX_BYTES', 'FSYNC', 'LOCK_STALE_MS', 'LOG_LEVEL', 'ARCHIVE', 'S3_ENDPOINT']) {
      expect(r.stdout).to.include(`CODEX_METRICS_${v} `);
    }
    for (const name of ['query', 'tail']) expect((await runCli([name, '--help'])).stdout).to.match(new RegExp(`^Usage: codex-metrics ${name} `));
  });

  it('logs short readable lines on stderr for people, pino JSON with --log-format json or --json', async function () {
    const env = { CODEX_METRICS_LOG_LEVEL: 'info', CODEX_METRICS_MAX_LINES: '1' };
    const human = await runCli(['record', '--dir', tmp.dir], { input: jsonl([runEntry(1), runEntry(2)]), env });
    expect(human.code, human.stderr).to.equal(0);
    const lines = human.stderr.trimEnd().split('\n');
    expect(lines.some((l) => /^codex-metrics: info: sealed segment \(seq 1, file metrics-00000001-\S+\.jsonl, /.test(l)), human.stderr).to.equal(true);
    for (const l of lines) expect(() => JSON.parse(l)).to.throw();
    for (const flag of [['--log-format', 'json'], ['--json']]) {
      const r = await runCli(['record', '--dir', tmp.dir, ...flag], { input: jsonl([runEntry(3), runEntry(4)]), env });
      const records = r.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { msg: string });
      expect(records.map((x) => x.msg)).to.include('sealed segment');
    }
    expect((await runCli(['record', '--dir', tmp.dir, '--log-format', 'xml'])).code).to.equal(2);
  });

  it('--json loads pino only for a line it logs: a quiet record --aggregate --json never imports it', async function () {
    // A preload that says so on stderr whenever pino is required.
    const preload = join(tmp.dir, 'note-pino.cjs');
    await writeFile(preload, "const M = require('module'); const load = M._load; M._load = function (r, ...a) { if (r === 'pino') process.stderr.write('PINO LOADED\\n'); return load.call(this, r, ...a); };\n");
    const store = join(tmp.dir, 'store');
    const quiet = await runCli(['record', '--aggregate', '--json', '--dir', store], { input: jsonl([runEntry(1)]), nodeArgs: ['-r', preload] });
    expect(quiet.code, quiet.stderr).to.equal(0);
    expect(JSON.parse(quiet.stdout)).to.deep.include({ recorded: 1 });
    expect(quiet.stderr).to.equal('');
    const loud = await runCli(['record', '--aggregate', '--json', '--dir', store], { input: jsonl([runEntry(2), runEntry(3)]), nodeArgs: ['-r', preload], env: { CODEX_METRICS_LOG_LEVEL: 'info', CODEX_METRICS_MAX_LINES: '1' } });
    expect(loud.code, loud.stderr).to.equal(0);
    const [first, ...records] = loud.stderr.trimEnd().split('\n');
    expect(first).to.equal('PINO LOADED');
    expect(records.length).to.be.greaterThan(0);
    for (const l of records) expect(JSON.parse(l)).to.include({ name: 'codex-metrics' });
    expect(records.map((l) => (JSON.parse(l) as { msg: string }).msg)).to.include('sealed segment');
  });

  it('fits the segments table in 120 columns, sizes human-readable', async function () {
    const big = Array.from({ length: 3000 }, (_, i) => runEntry(i, { pad: 'x'.repeat(400) }));
    const r0 = await runCli(['record', '--dir', tmp.dir], { input: jsonl(big), env: { CODEX_METRICS_MAX_LINES: '1000', CODEX_METRICS_COMPRESS: 'gzip' } });
    expect(r0.code, r0.stderr).to.equal(0);
    const r = await runCli(['segments', '--dir', tmp.dir]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).to.have.length(4);
    for (const l of lines) expect(l.length, l).to.be.at.most(120);
    expect(lines[1]).to.match(/^1\s+metrics-00000001-\d{8}T\d{9}Z\.jsonl\.gz\s+1000\s+\d+(\.\d)? KiB\s+2026-01-01 00:00\s+2026-01-01 16:39\s+no$/);
  });

  it('record on a terminal with no input says it waits for JSON lines on stdin', async function () {
    // script(1) gives the CLI a pseudo-terminal for stdin; Ctrl-D (EOF) ends the input at once.
    const out = execFileSync('script', ['-qec', `printf '\\004' | script -qec "${process.execPath} ${BIN} record --dir ${tmp.dir}" /dev/null`, '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
    expect(out).to.match(/waiting for JSON lines on stdin/);
  });

  it('shows progress on a terminal for aggregate --rebuild, retention and verify, and none in a pipe', async function () {
    const r0 = await runCli(['record', '--dir', tmp.dir], { input: jsonl(Array.from({ length: 12 }, (_, i) => runEntry(i))), env: { CODEX_METRICS_MAX_LINES: '3' } });
    expect(r0.code, r0.stderr).to.equal(0);
    // script(1) runs the command on a pseudo-terminal: stderr is a TTY there.
    const onTty = (args: string) => execFileSync('script', ['-qec', `${process.execPath} ${BIN} ${args} --dir ${tmp.dir} < /dev/null`, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
    expect(onTty('aggregate --rebuild')).to.match(/codex-metrics: aggregate: 4\/4 metrics\.json/);
    expect(onTty('verify')).to.match(/codex-metrics: verify: 3\/3 metrics-00000003-/);
    expect(onTty('retention --max-segments 1')).to.match(/codex-metrics: retention: fold: 2\/2 metrics-00000002-/);
    const piped = await runCli(['verify', '--dir', tmp.dir]);
    expect(piped.stderr).not.to.match(/verify: \d+\//);
  });

  it('a read-only mount and a full disk: the error says what to do', async function () {
    const ro = join(tmp.dir, 'ro');
    const full = join(tmp.dir, 'full');
    await mkdir(ro);
    await mkdir(full);
    if (!mountTmpfs(ro, 'ro,size=1m') || !mountTmpfs(full, 'size=64k')) {
      umount(ro);
      this.skip();
    }
    try {
      const r = await runCli(['record', '--dir', ro], { input: jsonl([runEntry(1)]) });
      expect(r.code).to.equal(1);
      expect(r.stderr.trimEnd().split('\n').at(-1)).to.match(/^codex-metrics: .*read-only: remount it read-write, or point --dir at a writable directory$/);
      const input = join(tmp.dir, 'big.jsonl');
      await writeFile(input, jsonl(Array.from({ length: 400 }, (_, i) => runEntry(i, { pad: 'y'.repeat(400) }))));
      const f = await runCli(['record', '--dir', full, input]);
      expect(f.code).to.equal(1);
      expect(f.stderr.trimEnd().split('\n').at(-1)).to.match(/^codex-metrics: .*the disk is full: free space/);
    } finally {
      umount(ro);
      umount(full);
    }
  });
});
