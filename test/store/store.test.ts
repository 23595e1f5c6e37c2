import { expect } from 'chai';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config.js';
import { Recorder, Store, type SegmentRecord } from '../../lib/store/store.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

const exists = (p: string) => access(p).then(() => true, () => false);

describe('store/store: the front door', function () {
  this.timeout(30_000);
  const tmp = useTmpDir();
  const config = (extra: Record<string, unknown> = {}) => loadConfig({ dir: tmp.dir, ...extra }, { env: {}, defaultsFile: null });

  it('refuses a root that does not exist unless asked to create it', async () => {
    const missing = join(tmp.dir, 'nope');
    let err: unknown;
    try {
      await Store.open({ config: loadConfig({ dir: missing }, { env: {}, defaultsFile: null }), log: quietLog });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.contain('does not exist');
    const store = await Store.open({ config: loadConfig({ dir: missing }, { env: {}, defaultsFile: null }), log: quietLog }, { mustExist: false });
    expect(await store.lastSeq()).to.equal(0);
  });

  it('tells after-seal listeners of every sealed segment, only once the writer lock is released; a failing listener does not fail the append', async () => {
    const seen: Array<{ files: string[]; lockHeld: boolean }> = [];
    const rec = await Recorder.open({
      config: config({ maxLines: 2 }),
      log: quietLog,
      afterSeal: [
        async (sealed: readonly SegmentRecord[], store: Store) => {
          seen.push({ files: sealed.map((s) => s.file), lockHeld: await exists(store.paths.lock) });
        },
        () => {
          throw new Error('archive is down');
        },
      ],
    });
    const r1 = await rec.append([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }]);
    expect(r1.recorded).to.equal(5);
    const r2 = await rec.append({ id: 'f' });
    expect(r2.sealed).to.deep.equal([]);
    await rec.rotate();
    expect(seen.map((s) => s.files.length)).to.deep.equal([2, 1]);
    expect(seen.every((s) => !s.lockHeld)).to.equal(true);
    const cat = await rec.store.catalogue();
    expect(seen.flatMap((s) => s.files)).to.deep.equal(cat.segments.map((s) => s.file));
  });

  it('the catalogue carries the storeId and the seq floor; lastSeq agrees without parsing it', async () => {
    const rec = await Recorder.open({ config: config({ maxLines: 1 }), log: quietLog });
    await rec.append([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    const store = await Store.open({ config: config(), log: quietLog });
    const cat = await store.catalogue();
    expect(cat.storeId).to.be.a('string').and.equal(await store.storeId());
    expect(cat.lastSeq).to.equal(2);
    expect(await store.lastSeq()).to.equal(2);
    expect(cat.segments.map((s) => s.seq)).to.deep.equal([1, 2]);
  });

  it('the exclusive section holds the aggregate lock, then the writer lock', async () => {
    const store = await Store.open({ config: config(), log: quietLog }, { mustExist: false });
    const held = await store.exclusive('test', async () => [await exists(store.paths.aggregateLock), await exists(store.paths.lock)]);
    expect(held).to.deep.equal([true, true]);
    expect([await exists(store.paths.aggregateLock), await exists(store.paths.lock)]).to.deep.equal([false, false]);
  });
});
