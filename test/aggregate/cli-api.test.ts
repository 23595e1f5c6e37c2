import { expect } from 'chai';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { updateMetricsAggregates } from '../../lib/index.js';
import { retention } from '../../lib/retention/retention.js';
import { Recorder } from '../../lib/store/recorder.js';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { appendRaw, line, readOutput, readOutputs, rebuildInCopy, run } from './helpers.js';

describe('aggregate through the CLI and the drop-in API', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');

  it('record --aggregate appends, then aggregates (outputs under --out)', async () => {
    const out = join(tmp.dir, 'out');
    let r = await runCli(['record', '--dir', root(), '--aggregate', '--out', out, '--json'], { input: jsonl([runEntry(1), runEntry(7), runEntry(2)]) });
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({
      recorded: 3,
      aggregate: { mode: 'incremental', linesRead: 3, malformed: 0, invalid: 0, duplicates: 0, totalRuns: 3 },
    });
    // runEntry(7) failed: 2 of 3.
    expect(await readOutput(root(), 'metrics/post-rollout.json')).to.include({ total_runs: 3, succeeded_runs: 2 });
    expect(await readOutput(out, 'state.json')).to.not.equal(undefined);
    expect(await readOutput(out, 'metrics/mttr-delta.json')).to.not.equal(undefined);

    r = await runCli(['record', '--dir', root(), '--aggregate', '--out', out, '--json'], { input: jsonl([runEntry(1), runEntry(3)]) });
    expect(JSON.parse(r.stdout)).to.deep.equal({
      recorded: 2,
      aggregate: { mode: 'incremental', linesRead: 2, malformed: 0, invalid: 0, duplicates: 1, totalRuns: 4 },
    });
    // Without --json, the text says both.
    r = await runCli(['record', '--dir', root(), '--aggregate', '--out', out], { input: jsonl([runEntry(4)]) });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/recorded 1 entry/);
    expect(r.stdout).to.match(/aggregate \(incremental\): read 1 line,.*5 runs in all/);
    expect(await readOutputs(root(), out)).to.deep.equal((await rebuildInCopy(root(), tmp.dir, { out: join(tmp.dir, 'out-copy') })).outputs);
  });

  it('segments --json: folded is true only for segments the checkpoint has read to their end', async () => {
    const folded = async () => {
      const r = await runCli(['segments', '--dir', root(), '--json']);
      expect(r.code, r.stderr).to.equal(0);
      return (JSON.parse(r.stdout) as { segments: Array<{ seq: number; state: string; folded: boolean }> }).segments.map((s) => [s.seq, s.state, s.folded]);
    };
    const rec = await Recorder.open({ dir: root(), maxLines: 2, log: quietLog });
    await rec.append([run('a'), run('b'), run('c'), run('d'), run('e')]);
    expect(await folded()).to.deep.equal([[1, 'sealed', false], [2, 'sealed', false], [3, 'active', false]]);

    await runCli(['aggregate', '--dir', root()]);
    expect(await folded()).to.deep.equal([[1, 'sealed', true], [2, 'sealed', true], [3, 'active', true]]);

    // A torn tail is not part of the segment yet: still folded.
    await appendRaw(root(), '{"run_id":"f"');
    expect(await folded()).to.deep.equal([[1, 'sealed', true], [2, 'sealed', true], [3, 'active', true]]);

    // One more line: the active file is no longer folded; sealing it keeps it half-read.
    await rec.append([run('f')]);
    expect(await folded()).to.deep.equal([[1, 'sealed', true], [2, 'sealed', true], [3, 'active', false]]);
    await rec.append([run('g')]);
    expect(await folded()).to.deep.equal([[1, 'sealed', true], [2, 'sealed', true], [3, 'sealed', false], [4, 'active', false]]);

    await runCli(['aggregate', '--dir', root()]);
    expect(await folded()).to.deep.equal([[1, 'sealed', true], [2, 'sealed', true], [3, 'sealed', true], [4, 'active', true]]);

    // Retention folds into the base; what is left is folded, a new line is not.
    await retention({ dir: root(), retention: { maxSegments: 1 }, log: quietLog });
    await rec.append([run('h')]);
    expect(await folded()).to.deep.equal([[3, 'sealed', true], [4, 'active', false]]);
  });

  it('updateMetricsAggregates({runsRoot, outRoot, taskId}) reads runsRoot/taskId and writes where the orchestrator did', async () => {
    const runsRoot = join(tmp.dir, '.runs');
    const outRoot = join(tmp.dir, 'out');
    const taskId = 'autonomy-upgrade';
    await mkdir(join(runsRoot, taskId), { recursive: true });
    await writeFile(join(runsRoot, taskId, 'metrics.json'), line(run('run-1', { duration_seconds: 300, tfgrpo_epoch: 1 })) + line(run('run-2', { status: 'failed', duration_seconds: 100, tfgrpo_epoch: 2 })));
    const r = await updateMetricsAggregates({ runsRoot, outRoot, taskId, log: quietLog });
    expect(r.totalRuns).to.equal(2);
    const metrics = join(runsRoot, taskId);
    expect((await readOutput(metrics, 'metrics/baseline.json')).run_id).to.equal('run-1');
    expect(await readOutput(metrics, 'metrics/post-rollout.json')).to.include({ total_runs: 2, succeeded_runs: 1, completion_rate: 0.5 });
    expect(await readOutput(metrics, 'metrics/completeness.json')).to.not.equal(undefined);
    expect((await readOutput(metrics, 'metrics/per-epoch.json')).epochs).to.have.length(2);
    // (300 + 100) / 2 = 200 against the baseline's 300.
    expect(await readOutput(join(outRoot, taskId), 'metrics/mttr-delta.json')).to.include({ baseline_mttr_seconds: 300, current_mttr_seconds: 200 });
    expect(await readOutput(join(outRoot, taskId), 'state.json')).to.have.property('safety');
    expect(await readOutput(metrics, 'state.json')).to.equal(undefined);
    expect(await readOutput(metrics, 'metrics/mttr-delta.json')).to.equal(undefined);

    const again = await updateMetricsAggregates({ runsRoot, outRoot, taskId, log: quietLog });
    expect(again).to.include({ mode: 'incremental', linesRead: 0, totalRuns: 2 });
  });

  it('updateMetricsAggregates for a task that has recorded nothing writes nothing and creates nothing', async () => {
    const r = await updateMetricsAggregates({ runsRoot: join(tmp.dir, '.runs'), outRoot: join(tmp.dir, 'out'), taskId: 'never-ran', log: quietLog });
    expect(r).to.include({ totalRuns: 0, linesRead: 0 });
    expect(r.written).to.deep.equal([]);
    expect(await readdir(tmp.dir)).to.deep.equal([]);
  });
});
