import { existsSync } from 'node:fs';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { retention } from '../../lib/retention/retention.js';
import { parseSegmentName } from '../../lib/store/names.js';
import { runCli } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { FAULT_ENV, withFault } from '../helpers/faulty-fs.js';
import { aggregateSnapshot, buildHistory, expectNonTrivial, expectSameAggregates, sealedFiles, type History, type Snapshot } from './history.js';

const POINTS = ['retention:after-fold', 'retention:mid-delete'] as const;
const KEEP = 3;


/** Aggregates of a copy of the store as the crash left it: incremental from the old checkpoint, then a rebuild. */
async function expectUnchangedInCopy(h: History, copyDir: string, before: Snapshot): Promise<void> {
  await cp(h.paths.root, copyDir, { recursive: true, verbatimSymlinks: true });
  const options = { ...h.options, dir: copyDir };
  expectSameAggregates(await aggregateSnapshot(options), before);
  expectSameAggregates(await aggregateSnapshot(options, true), before);
}

describe('retention: crash matrix', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  for (const point of POINTS) {
    for (const how of ['throw', 'kill'] as const) {
      it(`${point} (${how}): the store stays consistent, and the next run finishes the job`, async () => {
        const dir = join(tmp.dir, 'root');
        const h = await buildHistory(dir);
        const before = await aggregateSnapshot(h.options);
        expectNonTrivial(before);
        const sealed = await sealedFiles(h.paths);
        const doomed = sealed.slice(0, -KEEP);
        const through = parseSegmentName(doomed.at(-1)!)!.seq;

        if (how === 'throw') {
          const r = await withFault({ step: point, action: 'throw' }, () => retention({ ...h.options, retention: { maxSegments: KEEP } }));
          expect(String(r.error)).to.contain(`injected fault at ${point}`);
        } else {
          const r = await runCli(['retention', '--dir', dir, '--max-segments', String(KEEP), '--json'], {
            fault: { step: point, action: 'kill' },
          });
          expect(r.signal, r.stderr).to.equal('SIGKILL');
          expect(r.stdout).to.equal('');
          // A real power cut: the dead process still "holds" its locks.
          expect(existsSync(join(h.paths.metrics, 'aggregate.lock'))).to.equal(true);
          expect(existsSync(h.paths.lock)).to.equal(point === 'retention:mid-delete');
        }

        // What the crash left: the fold is complete either way; deletion has not started, or stopped after one file.
        const base = JSON.parse(await readFile(join(h.paths.metrics, 'retained-base.json'), 'utf8')) as { seq: number };
        expect(base.seq).to.equal(through);
        const left = await sealedFiles(h.paths);
        expect(left).to.deep.equal(point === 'retention:after-fold' ? sealed : sealed.slice(1));
        await expectUnchangedInCopy(h, join(tmp.dir, 'copy'), before);

        // The next run, with a dead holder's locks left behind when killed, finishes the job.
        let deleted: string[];
        if (how === 'throw') {
          // A stricter policy this time: it folds further from the base, then deletes.
          const r = await retention({ ...h.options, retention: { maxSegments: 1 } });
          deleted = r.deleted;
          expect(deleted).to.deep.equal(left.slice(0, -1));
          expect(r.kept).to.equal(1);
        } else {
          // No policy at all: what is folded already goes anyway.
          const r = await runCli(['retention', '--dir', dir, '--json']);
          expect(r.code, r.stderr).to.equal(0);
          const out = JSON.parse(r.stdout) as { deleted: string[]; kept: number };
          deleted = out.deleted;
          expect(deleted).to.deep.equal(left.filter((f) => doomed.includes(f)));
          expect(out.kept).to.equal(KEEP);
        }
        const kept = await sealedFiles(h.paths);
        expect([...sealed.filter((f) => !left.includes(f)), ...deleted, ...kept]).to.have.members(sealed);
        expect(kept.length + deleted.length).to.equal(left.length);

        expectSameAggregates(await aggregateSnapshot(h.options), before);
        expectSameAggregates(await aggregateSnapshot(h.options, true), before);
        const index = JSON.parse(await readFile(h.paths.index, 'utf8')) as { segments: Array<{ file: string }> };
        expect(index.segments.map((s) => s.file)).to.deep.equal(kept);
        const verify = await runCli(['verify', '--dir', dir, '--json']);
        expect(verify.code, verify.stdout + verify.stderr).to.equal(0);
      });
    }
  }

  it('the CLI users run has no fault switch: the old and the test fault variables do nothing there', async () => {
    const h = await buildHistory(tmp.dir, { entries: 30 });
    const sealed = await sealedFiles(h.paths);
    const r = await runCli(['retention', '--dir', tmp.dir, '--max-segments', '1', '--json'], {
      env: { NODE_ENV: 'test', CODEX_METRICS_FAULT: 'retention:mid-delete:kill', [FAULT_ENV]: JSON.stringify({ step: 'retention:mid-delete', action: 'kill' }) },
    });
    expect(r.signal).to.equal(null);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: sealed.slice(0, -1), kept: 1 });
  });
});
