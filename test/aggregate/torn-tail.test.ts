import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config.js';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { storePaths } from '../../lib/store/names.js';
import { Recorder } from '../../lib/store/recorder.js';
import { withWriter } from '../../lib/store/writer.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { appendRaw, line, readOutputs, rebuildInCopy, run } from './helpers.js';

async function checkpointCursor(root: string): Promise<{ seq: number; offset: number; line: number }> {
  return (JSON.parse(await readFile(join(root, 'metrics', 'aggregate-state.json'), 'utf8')) as { cursor: { seq: number; offset: number; line: number } }).cursor;
}

describe('aggregate: torn tail in the active file', function () {
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');

  const complete = line(run('t0', { duration_seconds: 1 })) + line(run('t1', { duration_seconds: 2 }));
  const torn = line(run('t2', { duration_seconds: 4 }));
  const cut = 17;

  it('stops at the last complete line, never moves the cursor past it, and counts the line once completed', async () => {
    await appendRaw(root(), complete + torn.slice(0, cut));
    const r1 = await aggregate({ dir: root(), log: quietLog });
    expect(r1).to.include({ linesRead: 2, malformed: 0, totalRuns: 2 });
    expect(r1.cursor).to.deep.equal({ seq: 1, offset: Buffer.byteLength(complete), line: 2 });
    expect(await checkpointCursor(root())).to.deep.equal(r1.cursor);
    // The torn bytes are a writer's, not the aggregator's: left in place.
    expect(await readFile(join(root(), 'metrics.json'), 'utf8')).to.equal(complete + torn.slice(0, cut));

    await appendRaw(root(), torn.slice(cut, cut + 5));
    const r2 = await aggregate({ dir: root(), log: quietLog });
    expect(r2).to.include({ mode: 'incremental', linesRead: 0, totalRuns: 2 });
    expect(await checkpointCursor(root())).to.deep.equal(r1.cursor);

    await appendRaw(root(), torn.slice(cut + 5));
    const r3 = await aggregate({ dir: root(), log: quietLog });
    expect(r3).to.include({ mode: 'incremental', linesRead: 1, malformed: 0, duplicates: 0, totalRuns: 3 });
    expect(await checkpointCursor(root())).to.deep.equal({ seq: 1, offset: Buffer.byteLength(complete + torn), line: 3 });
    const again = await aggregate({ dir: root(), log: quietLog });
    expect(again).to.include({ linesRead: 0, totalRuns: 3 });

    const o = await readOutputs(root());
    expect(o['metrics/mttr-delta.json']).to.include({ current_mttr_seconds: 7 / 3 });
    expect(o).to.deep.equal((await rebuildInCopy(root(), tmp.dir)).outputs);
  });

  it('while a writer holds the lock mid-line, aggregators read around it; the line counts once after', async () => {
    const config = loadConfig({ dir: root() }, { env: {} });
    const rec = await Recorder.open({ dir: root(), log: quietLog });
    await rec.append([run('w0'), run('w1')]);
    await withWriter(storePaths(root()), config, quietLog, { waitMs: 5000 }, async () => {
      await appendRaw(root(), torn.slice(0, cut));
      const r = await aggregate({ dir: root(), log: quietLog });
      expect(r).to.include({ linesRead: 2, totalRuns: 2 });
      await appendRaw(root(), torn.slice(cut));
    });
    const r = await aggregate({ dir: root(), log: quietLog });
    expect(r).to.include({ mode: 'incremental', linesRead: 1, malformed: 0, totalRuns: 3 });
  });

  it('the next recorder moves crash residue to metrics.corrupt/ and the aggregate stays exact', async () => {
    await appendRaw(root(), complete + torn.slice(0, cut));
    await aggregate({ dir: root(), log: quietLog });
    const rec = await Recorder.open({ dir: root(), log: quietLog });
    await rec.append(run('t3', { duration_seconds: 3 }));
    expect(await readdir(join(root(), 'metrics.corrupt'))).to.have.length(1);
    const r = await aggregate({ dir: root(), log: quietLog });
    expect(r).to.include({ mode: 'incremental', linesRead: 1, malformed: 0, totalRuns: 3 });
    expect(await readOutputs(root())).to.deep.equal((await rebuildInCopy(root(), tmp.dir)).outputs);
  });
});
