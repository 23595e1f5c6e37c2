import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { Recorder } from '../../lib/store/recorder.js';
import { runCli } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { appendRaw, captureLog, line, readOutput, run, warnings } from './helpers.js';

const MALFORMED = ['not json', '{"run_id": "m1"', "{'run_id': 'm2'}", 'NaN', '{"a":1}}', '[1,'];
const INVALID = [
  'null',
  '42',
  '"a string"',
  '[{"run_id":"i0","status":"s","recorded_at":"t"}]',
  '{}',
  JSON.stringify({ run_id: 7, status: 's', recorded_at: 't' }),
  JSON.stringify({ run_id: 'i1', recorded_at: 't' }),
  JSON.stringify({ run_id: 'i2', status: 's', recorded_at: '' }),
  JSON.stringify({ run_id: '   ', status: 's', recorded_at: 't' }),
  JSON.stringify({ run_id: 'i3', status: ' \t ', recorded_at: 't' }),
  JSON.stringify({ run_id: 'i4', status: null, recorded_at: 't' }),
  JSON.stringify({ run_id: 'i5', status: 's', recorded_at: ['t'] }),
];

describe('aggregate: what counts', function () {
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');

  it('puts every non-counted line in exactly one bucket; blank lines are nothing', async () => {
    await appendRaw(root(), [...MALFORMED, ...INVALID].map((l) => `${l}\n`).join('') + '\n   \n\t\n' + line(run('ok')));
    const r = await aggregate({ dir: root(), log: quietLog });
    expect(r).to.include({
      mode: 'incremental',
      linesRead: MALFORMED.length + INVALID.length + 1,
      malformed: MALFORMED.length,
      invalid: INVALID.length,
      duplicates: 0,
      totalRuns: 1,
    });
    expect(r.totals).to.deep.equal({ lines: 19, malformed: 6, invalid: 12, duplicates: 0, runs: 1 });
    // The invalid "i0".."i5" never claim their run_id: a later valid line with that id counts.
    await appendRaw(root(), line(run('i1')) + line(run('i2')));
    const r2 = await aggregate({ dir: root(), log: quietLog });
    expect(r2).to.include({ mode: 'incremental', linesRead: 2, duplicates: 0, totalRuns: 3 });
  });

  it('counts the first line of a run_id only: within a file, across segments and across incremental runs', async () => {
    const rec = await Recorder.open({ dir: root(), log: quietLog });
    // Segment 1: a, b (failed), a again (succeeded: would change succeeded_runs if counted).
    await rec.append([run('a', { status: 'succeeded' }), run('b', { status: 'failed' }), run('a', { status: 'failed' })]);
    await rec.rotate();
    // Segment 2: c, b again.
    await rec.append([run('c', { status: 'failed' }), run('b', { status: 'succeeded' })]);
    await rec.rotate();
    // Active: a again, d.
    await rec.append([run('a', { status: 'failed' }), run('d', { status: 'succeeded' })]);
    let r = await aggregate({ dir: root(), log: quietLog });
    expect(r).to.include({ linesRead: 7, duplicates: 3, malformed: 0, invalid: 0, totalRuns: 4 });
    expect(await readOutput(root(), 'metrics/post-rollout.json')).to.include({ total_runs: 4, succeeded_runs: 2 });

    // Next incremental pass: every id is old except e; the checkpoint must not forget them.
    await rec.append([run('d', { status: 'failed' }), run('c'), run('e', { status: 'succeeded' }), run('e', { status: 'failed' })]);
    r = await aggregate({ dir: root(), log: quietLog });
    expect(r).to.include({ mode: 'incremental', linesRead: 4, duplicates: 3, totalRuns: 5 });
    expect(r.totals).to.deep.include({ duplicates: 6, runs: 5, lines: 11 });
    expect(await readOutput(root(), 'metrics/post-rollout.json')).to.include({ total_runs: 5, succeeded_runs: 3 });

    // A rebuild counts the same, and so does one after the run-id index is gone.
    r = await aggregate({ dir: root(), log: quietLog, rebuild: true });
    expect(r).to.include({ mode: 'rebuild', linesRead: 11, duplicates: 6, totalRuns: 5 });
    expect(await readdir(join(root(), 'metrics', 'run-ids'))).to.not.be.empty;
  });

  it('a warning names the file and line of the first skipped lines', async () => {
    const rec = await Recorder.open({ dir: root(), log: quietLog });
    await rec.append([run('s1'), run('s2')]);
    await appendRaw(root(), '\n' + line(run('s1')));
    await rec.rotate();
    const seg = (await readdir(join(root(), 'metrics.segments'))).find((f) => f.startsWith('metrics-00000001'))!;
    // Active: blank, garbage, invalid.
    await appendRaw(root(), '\n{oops\n' + line({ run_id: 'x' }));
    const { log, records } = captureLog();
    const r = await aggregate({ dir: root(), log });
    expect(r.problems.map((p) => [p.file, p.line, p.kind])).to.deep.equal([
      [seg, 4, 'duplicate'],
      ['metrics.json', 2, 'malformed'],
      ['metrics.json', 3, 'invalid'],
    ]);
    const warn = warnings(records).find((w) => /skipped/.test(w['msg']));
    expect(warn, JSON.stringify(records)).to.not.equal(undefined);
    expect(warn!['first'].map((p: any) => `${p.file}:${p.line}`)).to.deep.equal([`${seg}:4`, 'metrics.json:2', 'metrics.json:3']);
    expect(warn).to.include({ malformed: 1, invalid: 1, duplicates: 1 });

    // Line numbers stay physical on the next incremental pass, and after the active file is sealed.
    await appendRaw(root(), line(run('s2')));
    const r2 = await aggregate({ dir: root(), log: quietLog });
    expect(r2.problems.map((p) => `${p.file}:${p.line}`)).to.deep.equal(['metrics.json:4']);
    await appendRaw(root(), line(run('s1')));
    await rec.rotate();
    const seg2 = (await readdir(join(root(), 'metrics.segments'))).find((f) => f.startsWith('metrics-00000002'))!;
    const r3 = await aggregate({ dir: root(), log: quietLog });
    expect(r3.problems.map((p) => `${p.file}:${p.line}`)).to.deep.equal([`${seg2}:5`]);
  });

  it('CLI --json prints exactly the contract counts for this pass, and the text output names skipped lines', async () => {
    await appendRaw(root(), line(run('a')) + 'garbage\n' + line(run('a')) + '\n' + line({ run_id: 'b' }) + line(run('b')));
    let res = await runCli(['aggregate', '--dir', root(), '--json']);
    expect(res.code, res.stderr).to.equal(0);
    expect(JSON.parse(res.stdout)).to.deep.equal({ mode: 'incremental', linesRead: 5, malformed: 1, invalid: 1, duplicates: 1, totalRuns: 2 });
    // The pino warning on stderr names file:line (line 4 is blank).
    const warn = res.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((w) => /skipped/.test(w.msg));
    expect(warn.first.map((p: any) => `${p.file}:${p.line}:${p.kind}`)).to.deep.equal([
      'metrics.json:2:malformed',
      'metrics.json:3:duplicate',
      'metrics.json:5:invalid',
    ]);

    res = await runCli(['aggregate', '--dir', root(), '--json']);
    expect(JSON.parse(res.stdout)).to.deep.equal({ mode: 'incremental', linesRead: 0, malformed: 0, invalid: 0, duplicates: 0, totalRuns: 2 });

    await appendRaw(root(), line(run('b')) + line(run('c')));
    res = await runCli(['aggregate', '--dir', root()]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.match(/read 2 lines, skipped 0 malformed, 0 invalid, 1 duplicate; 3 runs in all/);
    expect(res.stdout).to.include('skipped metrics.json:7 (duplicate');
  });
});
