import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { holdInChild } from '../helpers/hold-lock.js';

const reason = (r: { stderr: string }) => r.stderr.trim().split('\n').at(-1) ?? '';
const activeOf = (root: string) => readFile(join(root, 'metrics.json'), 'utf8').catch(() => 'absent');

describe('record: input it must refuse or warn about, and --aggregate that cannot run (real processes)', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');

  it('rejects invalid UTF-8 naming the line, and records nothing (bytes are stored as written, so they must be UTF-8)', async () => {
    const bad = Buffer.concat([Buffer.from(`${JSON.stringify(runEntry(1))}\n{"run_id":"a`), Buffer.from([0xff]), Buffer.from('","status":"succeeded","recorded_at":"t"}\n')]);
    const file = join(tmp.dir, 'in.jsonl');
    await writeFile(file, bad);
    const r = await runCli(['record', '--dir', root(), file]);
    expect(r.code).to.equal(1);
    expect(reason(r)).to.equal(`codex-metrics: ${file} line 2: not valid UTF-8; nothing was recorded`);
    expect(await activeOf(root())).to.equal('absent');
    // "a\xff" and "a\xfe" can no longer collapse into one run_id through U+FFFD.
    const ok = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1, { run_id: 'aé' })]) });
    expect(ok.code).to.equal(0);
    expect(await activeOf(root())).to.include('"run_id":"aé"');
  });

  it('warns, naming the lines, about entries that will never count (no run_id, status or recorded_at), and records them', async () => {
    const input = [JSON.stringify(runEntry(1)), '', JSON.stringify({ status: 'succeeded', recorded_at: 't' }), JSON.stringify({ run_id: 'x', status: ' ', recorded_at: 't' })].join('\n');
    const r = await runCli(['record', '--dir', root(), '--json'], { input });
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ recorded: 3 });
    expect(r.stderr).to.include('will never count as a run').and.include('stdin line 3 (run_id is not a non-empty string)').and.include('stdin line 4 (status is not a non-empty string)');
    const quiet = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(2)]) });
    expect(quiet.stderr).to.equal('');
  });

  describe('--aggregate', () => {
    it('exits 0 with "aggregate": {"skipped"} when the aggregation fails after the entries were recorded', async () => {
      await runCli(['record', '--dir', root()], { input: jsonl([runEntry(1)]), env: { CODEX_METRICS_COMPRESS: 'gzip' } });
      await runCli(['rotate', '--dir', root()], { env: { CODEX_METRICS_COMPRESS: 'gzip' } });
      const segs = join(root(), 'metrics.segments');
      const gz = (await (await import('node:fs/promises')).readdir(segs)).find((f) => f.endsWith('.gz'))!;
      await writeFile(join(segs, gz), 'not gzip at all');
      const r = await runCli(['record', '--dir', root(), '--aggregate', '--json'], { input: jsonl([runEntry(2)]) });
      expect(r.code, r.stderr).to.equal(0);
      const json = JSON.parse(r.stdout);
      expect(json.recorded).to.equal(1);
      expect(json.aggregate.skipped).to.be.a('string').and.include(gz);
      expect(r.stderr).to.include('aggregation skipped');
      expect(await activeOf(root())).to.include('"run-2"');
    });

    it('exits 0 with the skip reported when another aggregator holds the aggregate lock too long', async function () {
      this.timeout(90_000);
      await mkdir(join(root(), 'metrics'), { recursive: true });
      const holder = await holdInChild(root(), join(root(), 'metrics', 'aggregate.lock'));
      try {
        const human = await runCli(['record', '--dir', root(), '--aggregate'], { input: jsonl([runEntry(1)]) });
        expect(human.code, human.stderr).to.equal(0);
        expect(human.stdout).to.match(/^recorded 1 entry\naggregate skipped: .*aggregator holds .*aggregate\.lock/);
      } finally {
        await holder.release();
      }
      const r = await runCli(['record', '--dir', root(), '--aggregate', '--json'], { input: jsonl([runEntry(2)]) });
      expect(JSON.parse(r.stdout).aggregate.totalRuns).to.equal(2);
    });
  });
});
