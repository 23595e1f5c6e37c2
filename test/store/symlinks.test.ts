import { expect } from 'chai';
import { mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

const reason = (r: { stderr: string }) => r.stderr.trim().split('\n').at(-1) ?? '';

describe('symlinks inside the root are never followed (real processes)', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');
  const outside = () => join(tmp.dir, 'outside.txt');
  // No final newline: the case where the old code lost the acknowledged entry.
  const precious = 'someone else\'s file\nlast line without newline';

  beforeEach(async () => {
    await mkdir(root());
    await writeFile(outside(), precious);
  });

  it('record refuses a symlinked metrics.json: exit 1 naming it, nothing written, its target untouched', async () => {
    await symlink(outside(), join(root(), 'metrics.json'));
    const r = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1)]) });
    expect(r.code, r.stderr).to.equal(1);
    expect(reason(r)).to.match(/^codex-metrics: .*metrics\.json is a symlink/);
    expect(await readFile(outside(), 'utf8')).to.equal(precious);
    expect(await readlink(join(root(), 'metrics.json'))).to.equal(outside());
  });

  it('aggregate refuses a symlinked metrics.json and a symlinked output or checkpoint, target untouched', async () => {
    expect((await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1), runEntry(2)]) })).code).to.equal(0);
    for (const file of ['metrics/baseline.json', 'metrics/aggregate-state.json', 'metrics/post-rollout.json']) {
      await mkdir(join(root(), 'metrics'), { recursive: true });
      await symlink(outside(), join(root(), file));
      const r = await runCli(['aggregate', '--dir', root()]);
      expect(r.code, file).to.equal(1);
      expect(reason(r), file).to.include(`${file.split('/')[1]} is a symlink`);
      expect(await readFile(outside(), 'utf8'), file).to.equal(precious);
      await runCli(['verify', '--dir', root()]);
      await (await import('node:fs/promises')).unlink(join(root(), file));
    }
  });

  it('retention refuses a symlinked retained base before folding anything into it', async () => {
    const env = { CODEX_METRICS_MAX_LINES: '1' };
    expect((await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1), runEntry(2), runEntry(3)]), env })).code).to.equal(0);
    await mkdir(join(root(), 'metrics'), { recursive: true });
    await symlink(outside(), join(root(), 'metrics', 'retained-base.json'));
    const r = await runCli(['retention', '--dir', root(), '--max-segments', '0'], { env });
    expect(r.code).to.equal(1);
    expect(reason(r)).to.include('retained-base.json is a symlink');
    expect(await readFile(outside(), 'utf8')).to.equal(precious);
  });

  it('a symlinked metrics.pending/ or metrics.segments/ is refused before anything is merged or sealed into it', async () => {
    const elsewhere = join(tmp.dir, 'elsewhere');
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, 'x-1-u.jsonl'), `${JSON.stringify(runEntry(7))}\n`);
    await symlink(elsewhere, join(root(), 'metrics.pending'));
    const r = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1)]) });
    expect(r.code).to.equal(1);
    expect(reason(r)).to.include('metrics.pending is a symlink');
    expect(await readFile(join(elsewhere, 'x-1-u.jsonl'), 'utf8')).to.include('run-7');
  });

  it('a --dir that is itself a symlink to a directory works for every command', async () => {
    const link = join(tmp.dir, 'link');
    await symlink(root(), link);
    const env = { CODEX_METRICS_MAX_LINES: '2' };
    expect((await runCli(['record', '--dir', link], { input: jsonl([1, 2, 3].map((i) => runEntry(i))), env })).code).to.equal(0);
    for (const cmd of [['aggregate'], ['segments'], ['rotate'], ['verify'], ['retention', '--max-segments', '5']]) {
      const r = await runCli([...cmd, '--dir', link], { env });
      expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).to.equal(0);
    }
    const agg = JSON.parse((await runCli(['aggregate', '--dir', link, '--json', '--rebuild'])).stdout);
    expect(agg.totalRuns).to.equal(3);
  });
});
