import { expect } from 'chai';
import { appendFile, mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tryLock, type HeldLock } from '../../lib/store/lock.js';
import { storePaths } from '../../lib/store/names.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { idsOf, openRecorder, readStore } from '../helpers/store.js';

describe('store/pending (metrics.pending/)', () => {
  const tmp = useTmpDir();
  const paths = () => storePaths(tmp.dir);
  const line = (id: string) => JSON.stringify({ id });
  const holdLock = async (): Promise<HeldLock> => {
    await mkdir(tmp.dir, { recursive: true });
    const held = await tryLock(paths().lock, { staleMs: 300_000, log: quietLog });
    expect(held, 'test could not take the lock').to.not.equal(undefined);
    return held!;
  };
  const pendingFile = async (name: string, ids: string[]) => {
    await mkdir(paths().pending, { recursive: true });
    await writeFile(join(paths().pending, name), ids.map((id) => `${line(id)}\n`).join(''));
  };

  it('spills to metrics.pending/ when the lock stays busy, one file per entry, and acknowledges', async () => {
    const held = await holdLock();
    try {
      const rec = await openRecorder(tmp.dir, { lockWaitMs: 30 });
      expect(await rec.append({ id: 'p0' })).to.deep.equal({ recorded: 1, spilled: true, merged: 0, sealed: [] });
      expect(await rec.append([{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }])).to.include({ recorded: 3, spilled: true });
      expect(await rec.appendText('')).to.include({ recorded: 0, spilled: false });
      const s = await readStore(tmp.dir);
      expect(s.all).to.deep.equal([]);
      expect(s.pending).to.have.length(4);
      for (const name of s.pending) expect(name).to.match(/^\d{15}-\d{8}-\d+-[0-9a-f]+\.jsonl$/);
      const contents = await Promise.all(s.pending.map((n) => readFile(join(paths().pending, n), 'utf8')));
      expect(contents).to.deep.equal(['p0', 'p1', 'p2', 'p3'].map((id) => `${line(id)}\n`));
    } finally {
      await held.release();
    }
  });

  it('merges spilled entries in name order before the next holder\'s own entries', async () => {
    const held = await holdLock();
    const rec = await openRecorder(tmp.dir, { lockWaitMs: 30 });
    try {
      await rec.append({ id: 'p0' });
      await rec.append([{ id: 'p1' }, { id: 'p2' }]);
    } finally {
      await held.release();
    }
    const res = await rec.append({ id: 'own' });
    expect(res).to.include({ recorded: 1, spilled: false, merged: 3 });
    const s = await readStore(tmp.dir);
    expect(idsOf(s.active)).to.deep.equal(['p0', 'p1', 'p2', 'own']);
    expect(s.pending).to.deep.equal([]);
  });

  it('merges by name, not by when the file appeared', async () => {
    await pendingFile('000001700000000002-00000001-000000002-aaaaaa.jsonl', ['second']);
    await pendingFile('000001700000000001-00000002-000000001-bbbbbb.jsonl', ['first']);
    await pendingFile('000001700000000003-00000001-000000003-cccccc.jsonl', ['third', 'fourth']);
    const res = await (await openRecorder(tmp.dir)).appendText('');
    expect(res).to.include({ recorded: 0, merged: 4 });
    expect(idsOf((await readStore(tmp.dir)).active)).to.deep.equal(['first', 'second', 'third', 'fourth']);
  });

  it('is merged by an empty record and by rotate, which then seals the merged entries', async () => {
    await pendingFile('000001700000000001-00000001-000000001-aaaaaa.jsonl', ['a']);
    expect((await (await openRecorder(tmp.dir)).appendText('')).merged).to.equal(1);
    await pendingFile('000001700000000002-00000001-000000002-aaaaaa.jsonl', ['b']);
    const rotated = await (await openRecorder(tmp.dir)).rotate();
    expect(rotated.merged).to.equal(1);
    expect(rotated.sealed?.lines).to.equal(2);
    const s = await readStore(tmp.dir);
    expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['a', 'b']]);
    expect(s.pending).to.deep.equal([]);
  });

  it('rotates while merging, per line, as any append does', async () => {
    for (let i = 0; i < 5; i++) await pendingFile(`00000170000000000${i}-00000001-00000000${i}-aaaaaa.jsonl`, [`p${i}`]);
    await (await openRecorder(tmp.dir, { maxLines: 2 })).append({ id: 'own' });
    const s = await readStore(tmp.dir);
    expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['p0', 'p1'], ['p2', 'p3']]);
    expect(idsOf(s.active)).to.deep.equal(['p4', 'own']);
  });

  it('leaves a spill that never finished (a temp file) alone: it was never acknowledged', async () => {
    await pendingFile('.000001700000000001-00000001-000000001-aaaaaa.jsonl.tmp', ['half']);
    expect((await (await openRecorder(tmp.dir)).append({ id: 'own' })).merged).to.equal(0);
    expect(idsOf((await readStore(tmp.dir)).active)).to.deep.equal(['own']);
  });

  it('once older than the stale-lock age, merges a temp spill whose every line is complete and quarantines one that is not', async () => {
    // pid 99999999 is past any pid_max: their writer is dead.
    const complete = '.001700000000001-99999999-000000001-aaaaaa.jsonl.tmp';
    const half = '.001700000000002-99999999-000000002-aaaaaa.jsonl.tmp';
    await pendingFile(complete, ['whole']);
    await mkdir(paths().pending, { recursive: true });
    await writeFile(join(paths().pending, half), `${line('ok')}\n{"id":"ha`);
    const then = new Date(Date.now() - 5000);
    for (const t of [complete, half]) await utimes(join(paths().pending, t), then, then);
    expect((await (await openRecorder(tmp.dir, { lockStaleMs: 60_000 })).append({ id: 'own' })).merged).to.equal(0);
    let s = await readStore(tmp.dir);
    expect(s.pending).to.deep.equal([complete, half]);
    expect((await (await openRecorder(tmp.dir, { lockStaleMs: 1000 })).append({ id: 'own2' })).merged).to.equal(1);
    s = await readStore(tmp.dir);
    expect(idsOf(s.all)).to.deep.equal(['own', 'whole', 'own2']);
    expect(s.pending).to.deep.equal([]);
    expect([...s.corrupt]).to.deep.equal([['metrics.pending.unfinished.001700000000002-99999999-000000002-aaaaaa.jsonl', `${line('ok')}\n{"id":"ha`]]);
  });

  it('leaves our own old temp spill alone while the writer its name carries still runs here (its clock may be off)', async () => {
    const mine = `.001700000000001-${String(process.pid).padStart(8, '0')}-000000001-aaaaaa.jsonl.tmp`;
    await pendingFile(mine, ['in-progress']);
    await utimes(join(paths().pending, mine), new Date(0), new Date(0));
    expect((await (await openRecorder(tmp.dir, { lockStaleMs: 1000 })).append({ id: 'own' })).merged).to.equal(0);
    const s = await readStore(tmp.dir);
    expect(s.pending).to.deep.equal([mine]);
    expect(s.corrupt.size).to.equal(0);
  });

  describe('an interrupted merge', () => {
    const name = '000001700000000001-00000001-000000001-aaaaaa.jsonl';
    const merging = (seq: number, offset: number) => `${name}.merging-${seq}-${offset}`;

    it('is resumed where it stopped: lines already written are not written again', async () => {
      const rec = await openRecorder(tmp.dir);
      await rec.append([{ id: 'a' }, { id: 'b' }]);
      const at = (await stat(paths().active)).size;
      await pendingFile(merging(1, at), ['m0', 'm1', 'm2', 'm3']);
      await appendFile(paths().active, `${line('m0')}\n${line('m1')}\n`);
      await pendingFile('000001700000000002-00000001-000000002-bbbbbb.jsonl', ['later']);
      const res = await rec.append({ id: 'own' });
      expect(res.merged).to.equal(3);
      const s = await readStore(tmp.dir);
      expect(idsOf(s.active)).to.deep.equal(['a', 'b', 'm0', 'm1', 'm2', 'm3', 'later', 'own']);
      expect(s.pending).to.deep.equal([]);
    });

    it('writes nothing again when the merger died after writing every line', async () => {
      const rec = await openRecorder(tmp.dir);
      await rec.append({ id: 'a' });
      const at = (await stat(paths().active)).size;
      await pendingFile(merging(1, at), ['m0']);
      await appendFile(paths().active, `${line('m0')}\n`);
      expect((await rec.appendText('')).merged).to.equal(0);
      expect(idsOf((await readStore(tmp.dir)).active)).to.deep.equal(['a', 'm0']);
      expect((await readStore(tmp.dir)).pending).to.deep.equal([]);
    });

    it('writes it whole when the merger died before writing a line', async () => {
      const rec = await openRecorder(tmp.dir);
      await rec.append({ id: 'a' });
      await pendingFile(merging(1, (await stat(paths().active)).size), ['m0', 'm1']);
      await rec.append({ id: 'own' });
      expect(idsOf((await readStore(tmp.dir)).active)).to.deep.equal(['a', 'm0', 'm1', 'own']);
    });

    it('counts a torn half line as not written (it goes to metrics.corrupt/)', async () => {
      const rec = await openRecorder(tmp.dir);
      await rec.append({ id: 'a' });
      await pendingFile(merging(1, (await stat(paths().active)).size), ['m0', 'm1']);
      await appendFile(paths().active, `${line('m0')}\n{"id":"m`);
      await rec.append({ id: 'own' });
      const s = await readStore(tmp.dir);
      expect(idsOf(s.active)).to.deep.equal(['a', 'm0', 'm1', 'own']);
      expect([...s.corrupt.values()]).to.deep.equal(['{"id":"m']);
    });

    it('finds lines that a seal moved into a segment after the merge position', async () => {
      const rec = await openRecorder(tmp.dir, { maxLines: 3 });
      await rec.append([{ id: 'a' }, { id: 'b' }]);
      const at = (await stat(paths().active)).size;
      // The dead merger wrote m0, sealed (max lines), wrote m1, then died.
      await rec.append({ id: 'm0' });
      await rec.append({ id: 'm1' });
      expect((await readStore(tmp.dir)).segments.map((x) => idsOf(x.lines))).to.deep.equal([['a', 'b', 'm0']]);
      await pendingFile(merging(1, at), ['m0', 'm1', 'm2']);
      await rec.append({ id: 'own' });
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['a', 'b', 'm0']]);
      expect(idsOf(s.active)).to.deep.equal(['m1', 'm2', 'own']);
    });
  });
});
