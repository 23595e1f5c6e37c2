import { expect } from 'chai';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bucketRunIds as RunIdIndex } from '../../lib/aggregate/bucket-run-ids.js';
import type { PassShape } from '../../lib/aggregate/run-ids.js';
import { useTmpDir } from '../helpers/tmp.js';
import { useFileSystem } from '../../lib/store/fs-env.js';
import { faultyFileSystem } from '../helpers/faulty-fs.js';

/** The bucket hash as stored on disk (FNV-1a over UTF-16 units): part of the file format, so spelled out here. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A pass of a line or two (lookups bucket by bucket), and one long enough to read every bucket first. */
const perLine: PassShape = { from: { seq: 1, offset: 0 }, lines: 0, bytes: 0 };
const bulk: PassShape = { from: { seq: 1, offset: 0 }, lines: 1 << 20, bytes: 0 };
/** A rebuild that will read `bytes` of history. */
const history = (bytes: number): PassShape => ({ from: { seq: 1, offset: 0 }, lines: bytes / 1000, bytes });

const layoutOf = async (dir: string) => JSON.parse(await readFile(join(dir, 'layout.json'), 'utf8')) as { gen: number; bits: number };
const idxFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.idx')).sort();

describe('run-id index: generations, growth, reset, legacy layout', function () {
  const tmp = useTmpDir();
  const dir = () => join(tmp.dir, 'run-ids');

  it('a fresh index starts with one bucket and writes its layout with the first flush', async () => {
    const ids = RunIdIndex.open(dir(), perLine);
    expect(RunIdIndex.present(dir())).to.equal(false);
    ids.add('a', { seq: 1, offset: 0 });
    ids.add('b', { seq: 1, offset: 10 });
    ids.flush(true);
    expect(RunIdIndex.present(dir())).to.equal(true);
    expect(await layoutOf(dir())).to.include({ bits: 0 });
    const again = RunIdIndex.open(dir(), perLine);
    expect(again.firstSeen('b')).to.deep.equal({ seq: 1, offset: 10 });
    expect(again.firstSeen('c')).to.equal(undefined);
  });

  it('grows into more buckets past 1 MiB in one bucket, keeping every id at its earliest position', async function () {
    this.timeout(120_000);
    const n = 40_000;
    const id = (i: number) => `run-with-a-longish-id-${String(i).padStart(8, '0')}`;
    let ids = RunIdIndex.open(dir(), perLine);
    for (let i = 0; i < n; i++) {
      ids.add(id(i), { seq: 1 + (i >> 12), offset: i * 100 });
      if (i % 5000 === 4999) {
        ids.flush(false);
        ids = RunIdIndex.open(dir(), perLine);
      }
    }
    ids.flush(false);
    const layout = await layoutOf(dir());
    expect(layout.bits).to.be.greaterThan(0);
    // Only the generation in force is left on disk.
    expect((await idxFiles(dir())).every((f) => f.startsWith(`g${layout.gen}-`))).to.equal(true);
    const reopened = RunIdIndex.open(dir(), perLine);
    for (let i = 0; i < n; i += 97) expect(reopened.firstSeen(id(i)), id(i)).to.deep.equal({ seq: 1 + (i >> 12), offset: i * 100 });
    // A replayed id at a later position does not move its first position.
    reopened.add(id(5), { seq: 99, offset: 0 });
    reopened.flush(false);
    expect(RunIdIndex.open(dir(), bulk).firstSeen(id(5))).to.deep.equal({ seq: 1, offset: 500 });
  });

  it('a crash between writing the grown generation and switching to it leaves the old index whole', async function () {
    this.timeout(120_000);
    const id = (i: number) => `crash-grow-run-id-${String(i).padStart(8, '0')}`;
    const ids = RunIdIndex.open(dir(), perLine);
    for (let i = 0; i < 30_000; i++) ids.add(id(i), { seq: 1, offset: i });
    const restore = useFileSystem(faultyFileSystem({ step: 'run-ids:before-switch', action: 'throw' }));
    try {
      expect(() => ids.flush(false)).to.throw(/injected fault/);
    } finally {
      restore();
    }
    const before = await layoutOf(dir());
    expect(before.bits).to.equal(0);
    // The new generation's files are there but not in force; ids are read from the old one.
    expect((await idxFiles(dir())).some((f) => !f.startsWith(`g${before.gen}-`))).to.equal(true);
    const reopened = RunIdIndex.open(dir(), perLine);
    for (let i = 0; i < 30_000; i += 101) expect(reopened.firstSeen(id(i))).to.deep.equal({ seq: 1, offset: i });
    // The next regrow goes past the leftovers and removes them.
    reopened.add(id(30_000), { seq: 2, offset: 0 });
    reopened.flush(false);
    const after = await layoutOf(dir());
    expect(after.gen).to.be.greaterThan(before.gen + 1);
    expect((await idxFiles(dir())).every((f) => f.startsWith(`g${after.gen}-`))).to.equal(true);
    expect(RunIdIndex.open(dir(), perLine).firstSeen(id(29_999))).to.deep.equal({ seq: 1, offset: 29_999 });
  });

  it('reset keeps the ids of retained-away segments, forgets the rest, and sizes the new generation for the history', async () => {
    const ids = RunIdIndex.open(dir(), perLine);
    ids.add('old', { seq: 2, offset: 5 });
    ids.add('edge', { seq: 3, offset: 0 });
    ids.add('new', { seq: 4, offset: 0 });
    ids.flush(true);
    const gen = (await layoutOf(dir())).gen;
    RunIdIndex.reset(dir(), 3, history(90 << 20), true);
    const layout = await layoutOf(dir());
    expect(layout.gen).to.be.greaterThan(gen);
    // 90 MiB of history at 24 bytes per index byte is 3.75 MiB of index: 16 buckets of 240 KiB (aim: <= 256 KiB).
    expect(layout.bits).to.equal(4);
    const after = RunIdIndex.open(dir(), perLine);
    expect(after.firstSeen('old')).to.deep.equal({ seq: 2, offset: 5 });
    expect(after.firstSeen('edge')).to.deep.equal({ seq: 3, offset: 0 });
    expect(after.firstSeen('new')).to.equal(undefined);
    expect((await idxFiles(dir())).every((f) => f.startsWith(`g${layout.gen}-`))).to.equal(true);
    // From nothing kept: an empty index of one bucket for a small history.
    RunIdIndex.reset(dir(), 0, history(1000), true);
    expect(await layoutOf(dir())).to.include({ bits: 0 });
    expect(RunIdIndex.open(dir(), perLine).firstSeen('old')).to.equal(undefined);
  });

  it('reads a store from before generations (256 <hex>.idx buckets, no layout.json), and reset moves it over', async () => {
    await mkdir(dir(), { recursive: true });
    const records = new Map<number, string>();
    const legacy = ['run-a', 'run-b', 'r\u00e9sum\u00e9 "quoted"', 'run-c'];
    legacy.forEach((id, i) => {
      const b = fnv1a(id) >>> 24;
      records.set(b, `${records.get(b) ?? ''}\n${i + 1}\t${i * 7}\t${JSON.stringify(id)}\n`);
    });
    for (const [b, text] of records) await writeFile(join(dir(), `${b.toString(16).padStart(2, '0')}.idx`), text);
    expect(RunIdIndex.present(dir())).to.equal(true);
    const ids = RunIdIndex.open(dir(), bulk);
    legacy.forEach((id, i) => expect(ids.firstSeen(id), id).to.deep.equal({ seq: i + 1, offset: i * 7 }));
    RunIdIndex.reset(dir(), 2, history(0), true);
    const layout = await layoutOf(dir());
    expect((await idxFiles(dir())).every((f) => f.startsWith(`g${layout.gen}-`))).to.equal(true);
    const moved = RunIdIndex.open(dir(), perLine);
    expect(moved.firstSeen('run-a')).to.deep.equal({ seq: 1, offset: 0 });
    expect(moved.firstSeen('run-b')).to.deep.equal({ seq: 2, offset: 7 });
    expect(moved.firstSeen('run-c')).to.equal(undefined);
  });

  it('a reset that must keep ids refuses to start over when layout.json is unreadable but bucket files are there', async () => {
    const ids = RunIdIndex.open(dir(), perLine);
    ids.add('retained', { seq: 1, offset: 0 });
    ids.flush(true);
    await writeFile(join(dir(), 'layout.json'), '{');
    expect(() => RunIdIndex.reset(dir(), 1, history(0), true)).to.throw(/layout\.json is missing or unreadable/);
    // Nothing was deleted: restoring the layout brings the retained ids back.
    expect(await idxFiles(dir())).to.not.be.empty;
  });

  it('one bucket over 1 MiB because of one huge run_id does not make every flush copy the index', async () => {
    const ids = RunIdIndex.open(dir(), perLine);
    ids.add('x'.repeat(1_200_000), { seq: 1, offset: 0 });
    ids.add('small', { seq: 1, offset: 1_200_100 });
    ids.flush(false);
    const first = await layoutOf(dir());
    const again = RunIdIndex.open(dir(), perLine);
    again.add('another', { seq: 2, offset: 0 });
    again.flush(false);
    expect(await layoutOf(dir())).to.deep.equal(first);
    expect(RunIdIndex.open(dir(), bulk).firstSeen('small')).to.deep.equal({ seq: 1, offset: 1_200_100 });
  });

  it('a long pass over lines the index holds answers each by its position, exactly as a lookup would', async () => {
    const ids = RunIdIndex.open(dir(), perLine);
    ids.add('before', { seq: 1, offset: 0 });
    ids.add('in', { seq: 2, offset: 10 });
    ids.add('late', { seq: 3, offset: 0 });
    ids.add('after', { seq: 4, offset: 0 });
    ids.flush(false);
    // A stale record of 'before' inside the pass (as a replay after a lost index could leave) is not its first line.
    const again = RunIdIndex.open(dir(), perLine);
    again.add('before', { seq: 2, offset: 0 });
    again.flush(false);

    const pass = RunIdIndex.open(dir(), { from: { seq: 2, offset: 0 }, untilSeq: 3, lines: 1 << 20, bytes: 0 });
    expect(pass.firstSeen('in', { seq: 2, offset: 10 })).to.deep.equal({ seq: 2, offset: 10 });
    expect(pass.firstSeen('in', { seq: 3, offset: 50 })).to.deep.equal({ seq: 2, offset: 10 });
    expect(pass.firstSeen('before', { seq: 2, offset: 0 })).to.deep.equal({ seq: 1, offset: 0 });
    // Its line is met before the position the index holds: the earlier one counts from then on.
    expect(pass.firstSeen('late', { seq: 2, offset: 20 })).to.deep.equal({ seq: 3, offset: 0 });
    pass.add('late', { seq: 2, offset: 20 });
    expect(pass.firstSeen('late', { seq: 3, offset: 0 })).to.deep.equal({ seq: 2, offset: 20 });
    expect(pass.firstSeen('new', { seq: 3, offset: 10 })).to.equal(undefined);
    pass.add('new', { seq: 3, offset: 10 });
    expect(pass.firstSeen('new', { seq: 3, offset: 30 })).to.deep.equal({ seq: 3, offset: 10 });
    // A position the index holds for another id is no answer for this one.
    expect(pass.firstSeen('other', { seq: 2, offset: 10 })).to.equal(undefined);
    pass.close();
  });

  it('an unreadable layout.json means no index, and a new one never reuses a generation on disk', async () => {
    const ids = RunIdIndex.open(dir(), perLine);
    ids.add('x', { seq: 1, offset: 0 });
    ids.flush(true);
    const { gen } = await layoutOf(dir());
    await writeFile(join(dir(), 'layout.json'), 'not json');
    expect(RunIdIndex.present(dir())).to.equal(false);
    const fresh = RunIdIndex.open(dir(), perLine);
    expect(fresh.firstSeen('x')).to.equal(undefined);
    fresh.add('y', { seq: 2, offset: 0 });
    fresh.flush(true);
    expect((await layoutOf(dir())).gen).to.be.greaterThan(gen);
    expect(RunIdIndex.open(dir(), perLine).firstSeen('y')).to.deep.equal({ seq: 2, offset: 0 });
  });
});
