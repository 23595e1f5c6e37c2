import { expect } from 'chai';
import { createLogger, listSegments, parseSegmentName, Recorder, storeContext, type AppendResult, type SegmentInfo } from '../../lib/index.js';
import { useTmpDir } from '../helpers/tmp.js';

describe('public API (lib/index.ts): recorder and segment listing', () => {
  const tmp = useTmpDir();

  it('opens a recorder on a dir with options, appends, rotates, closes, and lists segments', async () => {
    const log = createLogger('silent');
    const rec = await Recorder.open({ dir: tmp.dir, maxLines: 2, log });
    expect(rec.config.maxLines).to.equal(2);
    const one: AppendResult = await rec.append({ run_id: 'r1', recorded_at: '2026-01-01T00:00:00Z' });
    expect(one).to.deep.equal({ recorded: 1, spilled: false, merged: 0, sealed: [] });
    const many = await rec.append([{ run_id: 'r2' }, { run_id: 'r3' }, { run_id: 'r4' }]);
    expect(many.sealed.map((s) => s.seq)).to.deep.equal([1]);
    const rotated = await rec.rotate();
    expect(rotated.sealed?.seq).to.equal(2);
    await rec.close();

    const listed: SegmentInfo[] = await listSegments(storeContext({ dir: tmp.dir, log }));
    expect(listed.map((s) => [s.seq, s.state, s.lines])).to.deep.equal([[1, 'sealed', 2], [2, 'sealed', 2]]);
    expect(parseSegmentName(listed[0]!.file)?.seq).to.equal(1);
    expect(listed[0]!.firstRecordedAt).to.equal('2026-01-01T00:00:00Z');
  });

  it("without a log of the caller's, storeContext's is pino's own: child bindings, flush, its level settable", () => {
    const { log } = storeContext({ dir: tmp.dir, logLevel: 'silent' });
    const child = log.child({ component: 'mine' });
    expect(child.bindings()).to.include({ component: 'mine' });
    expect(log.flush).to.be.a('function');
    log.level = 'debug';
    expect(log.isLevelEnabled('debug')).to.equal(true);
    log.level = 'silent';
  });

  it('accepts a bare dir string', async () => {
    const rec = await Recorder.open(tmp.dir);
    expect(rec.config.dir).to.equal(tmp.dir);
  });
});
