import { expect } from 'chai';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { jsonl, runCli, runEntry, type CliResult } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

/** The contract's failure format: whatever logs came first, the last stderr line is one plain reason. */
function reason(r: CliResult): string {
  const last = r.stderr.trimEnd().split('\n').at(-1)!;
  expect(last).to.match(/^codex-metrics: \S/);
  return last;
}

describe('CLI edges found by a contract audit', function () {
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');

  it('no command: usage on stderr, exit 2, and the plain reason last', async () => {
    const r = await runCli([], { cwd: tmp.dir });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/Usage: codex-metrics <command>/);
    expect(reason(r)).to.equal('codex-metrics: missing command');
    expect(r.stdout).to.equal('');
  });

  it('a config file that is not JSON: exit 2 with a one-line reason, even when the parser quotes the file', async () => {
    await writeFile(join(tmp.dir, 'ini.json'), 'maxLines=3\nmaxBytes=4\n');
    const r = await runCli(['segments', '--dir', tmp.dir], { env: { CODEX_METRICS_CONFIG: join(tmp.dir, 'ini.json') } });
    expect(r.code).to.equal(2);
    expect(reason(r)).to.match(/ini\.json is not valid JSON/);
  });

  it('--dir "" is a usage error, not the current directory', async () => {
    const r = await runCli(['record', '--dir', ''], { cwd: tmp.dir, input: jsonl([runEntry(1)]), env: { CODEX_METRICS_DIR: root() } });
    expect(r.code).to.equal(2);
    expect(reason(r)).to.match(/--dir/);
    expect(await readdir(tmp.dir)).to.deep.equal([]);
  });

  it('global flags before the command are read as the command\'s', async () => {
    expect((await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1)]) })).code).to.equal(0);
    const r = await runCli(['--dir', root(), '--json', 'segments']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).segments).to.have.length(1);
  });

  it('rotate on a directory that does not exist fails and creates nothing', async () => {
    const r = await runCli(['rotate', '--dir', join(tmp.dir, 'typo')]);
    expect(r.code).to.equal(1);
    expect(reason(r)).to.match(/typo does not exist/);
    expect(await readdir(tmp.dir)).to.deep.equal([]);
  });

  it('an active file of blank lines only is not sealed: nothing to seal', async () => {
    await mkdir(root());
    await writeFile(join(root(), 'metrics.json'), '\n\n  \n');
    const r = await runCli(['rotate', '--dir', root(), '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ sealed: null });
    expect((await readdir(join(root(), 'metrics.segments'))).filter((f) => f.startsWith('metrics-'))).to.deep.equal([]);
  });

  it('the first aggregate of a store is incremental (only --rebuild or a broken checkpoint rebuild)', async () => {
    await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1), runEntry(2)]) });
    const first = JSON.parse((await runCli(['aggregate', '--dir', root(), '--json'])).stdout);
    expect(first).to.deep.equal({ mode: 'incremental', linesRead: 2, malformed: 0, invalid: 0, duplicates: 0, totalRuns: 2 });
    const again = JSON.parse((await runCli(['aggregate', '--dir', root(), '--json', '--rebuild'])).stdout);
    expect(again).to.include({ mode: 'rebuild', linesRead: 2, totalRuns: 2 });
  });

  it('a damaged .gz segment: aggregate fails naming the file, and nothing is written', async () => {
    await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1), runEntry(2), runEntry(3)]), env: { CODEX_METRICS_COMPRESS: 'gzip', CODEX_METRICS_MAX_LINES: '2' } });
    const gz = (await readdir(join(root(), 'metrics.segments'))).find((f) => f.endsWith('.gz'))!;
    await writeFile(join(root(), 'metrics.segments', gz), gzipSync(Buffer.from('{"run_id":"x"}\n')).subarray(0, 12));
    const r = await runCli(['aggregate', '--dir', root()]);
    expect(r.code).to.equal(1);
    expect(reason(r)).to.contain(gz);
    expect(await readdir(root())).to.not.include('state.json');
  });

  it('aggregate --out naming a file fails before writing any output', async () => {
    await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1)]) });
    await writeFile(join(tmp.dir, 'not-a-dir'), 'x');
    const r = await runCli(['aggregate', '--dir', root(), '--out', join(tmp.dir, 'not-a-dir')]);
    expect(r.code).to.equal(1);
    expect(reason(r)).to.match(/not-a-dir exists and is not a directory/);
    expect(await readdir(root())).to.not.include('metrics');
  });

  it('retention --dry-run --json has exactly the contract keys', async () => {
    await runCli(['record', '--dir', root()], { input: jsonl([1, 2, 3, 4, 5].map((i) => runEntry(i))), env: { CODEX_METRICS_MAX_LINES: '2' } });
    const r = await runCli(['retention', '--dir', root(), '--max-segments', '1', '--dry-run', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const json = JSON.parse(r.stdout);
    expect(Object.keys(json).sort()).to.deep.equal(['deleted', 'kept']);
    expect(json.deleted).to.have.length(1);
    expect(json.kept).to.equal(1);
  });

  it('values: a level in capitals is accepted; a size that rounds to 0 bytes and a negative stale time are errors', async () => {
    await mkdir(root());
    expect((await runCli(['segments', '--dir', root()], { env: { CODEX_METRICS_LOG_LEVEL: 'ERROR' } })).code).to.equal(0);
    const tiny = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1)]), env: { CODEX_METRICS_MAX_BYTES: '0.4' } });
    expect(tiny.code).to.equal(2);
    expect(reason(tiny)).to.match(/CODEX_METRICS_MAX_BYTES="0\.4"/);
    const stale = await runCli(['segments', '--dir', root()], { env: { CODEX_METRICS_LOCK_STALE_MS: '-1' } });
    expect(stale.code).to.equal(2);
    expect(reason(stale)).to.match(/CODEX_METRICS_LOCK_STALE_MS="-1": expected a whole number of milliseconds >= 1000/);
    // Below the floor a live holder on another host could be taken over between two refreshes.
    for (const tooSmall of ['1', '999']) {
      const r = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1)]), env: { CODEX_METRICS_LOCK_STALE_MS: tooSmall } });
      expect(r.code, tooSmall).to.equal(2);
      expect(reason(r)).to.include(`CODEX_METRICS_LOCK_STALE_MS="${tooSmall}"`).and.include('refresh');
    }
    expect(await readFile(join(root(), 'metrics.json'), 'utf8').catch(() => 'absent')).to.equal('absent');
  });
});
