import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { storePaths } from '../../lib/store/names.js';
import { storeContext } from '../../lib/store/recorder.js';
import { readIndex, type SegmentIndex } from '../../lib/store/segment-index.js';
import { describeSegments as listSegments } from '../../lib/store/segments.js';
import { loadConfig } from '../../lib/config.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { entries, openRecorder, readStore } from '../helpers/store.js';

describe('store/segment-index (metrics.segments/index.json)', () => {
  const tmp = useTmpDir();
  const ctx = () => storeContext({ config: loadConfig({ dir: tmp.dir }, { env: {}, defaultsFile: null }), log: quietLog });
  const indexJson = async () => JSON.parse(await readFile(storePaths(tmp.dir).index, 'utf8')) as SegmentIndex;

  /** Three sealed segments of 2 lines (e0..e5), one active line (e6). */
  async function threeSegments(): Promise<void> {
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append(entries('e', 7));
  }

  it('is written at each seal with seq, file, lines, bytes, sha256, first/last and min/max recorded_at and sealedAt', async () => {
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append(entries('e', 3));
    expect((await indexJson()).segments).to.have.length(1);
    await rec.append(entries('f', 2));
    const index = await indexJson();
    expect(index.version).to.equal(1);
    expect(index.lastSeq).to.equal(2);
    const paths = storePaths(tmp.dir);
    const stored = await readStore(tmp.dir);
    for (const [i, r] of index.segments.entries()) {
      expect(Object.keys(r).sort()).to.deep.equal(['bytes', 'compressed', 'file', 'firstRecordedAt', 'lastRecordedAt', 'lines', 'maxRecordedAt', 'minRecordedAt', 'seq', 'sealedAt', 'sha256', 'storedBytes'].sort());
      const raw = await readFile(join(paths.segments, r.file));
      expect(r.seq).to.equal(i + 1);
      expect(r.file).to.equal(stored.segments[i]!.file);
      expect(r.lines).to.equal(2);
      expect(r.bytes).to.equal(raw.length);
      expect(r.storedBytes).to.equal(raw.length);
      expect(r.sha256).to.equal(createHash('sha256').update(raw).digest('hex'));
      const lines = stored.segments[i]!.lines.map((l) => JSON.parse(l) as { recorded_at: string });
      expect(r.firstRecordedAt).to.equal(lines[0]!.recorded_at);
      expect(r.lastRecordedAt).to.equal(lines.at(-1)!.recorded_at);
      const times = lines.map((l) => Date.parse(l.recorded_at));
      expect(r.minRecordedAt).to.equal(new Date(Math.min(...times)).toISOString());
      expect(r.maxRecordedAt).to.equal(new Date(Math.max(...times)).toISOString());
      // The name carries the sealing time to the millisecond.
      expect(r.file).to.include(r.sealedAt.replace(/[-:.]/g, ''));
    }
    expect(index.segments[1]!.firstRecordedAt).to.equal(entries('e', 3)[2]!.recorded_at);
    expect(index.segments[1]!.lastRecordedAt).to.equal(entries('f', 1)[0]!.recorded_at);
  });

  it('records null first/last and min/max recorded_at when no line has one', async () => {
    const rec = await openRecorder(tmp.dir);
    await rec.append([{ id: 'a' }, { id: 'b', recorded_at: 5 }]);
    await rec.rotate();
    const [r] = (await indexJson()).segments;
    expect([r!.firstRecordedAt, r!.lastRecordedAt, r!.minRecordedAt, r!.maxRecordedAt]).to.deep.equal([null, null, null, null]);
  });

  it('is rebuilt from the files when missing: listSegments sees every segment, the next seal rewrites it whole', async () => {
    await threeSegments();
    const before = await indexJson();
    await rm(storePaths(tmp.dir).index);
    const listed = await listSegments(ctx());
    expect(listed.map((s) => [s.seq, s.state, s.lines])).to.deep.equal([[1, 'sealed', 2], [2, 'sealed', 2], [3, 'sealed', 2], [4, 'active', 1]]);
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append({ id: 'e7' });
    await rec.append({ id: 'e8' });
    const after = await indexJson();
    expect(after.lastSeq).to.equal(4);
    expect(after.segments.slice(0, 3)).to.deep.equal(before.segments);
    expect(after.segments.map((r) => r.seq)).to.deep.equal([1, 2, 3, 4]);
  });

  it('is rebuilt when it lags behind the directory (a seal that died before writing it)', async () => {
    await threeSegments();
    const full = await indexJson();
    const behind: SegmentIndex = { version: 1, lastSeq: 2, segments: full.segments.slice(0, 2) };
    await writeFile(storePaths(tmp.dir).index, JSON.stringify(behind));
    expect((await listSegments(ctx())).filter((s) => s.state === 'sealed').map((s) => s.seq)).to.deep.equal([1, 2, 3]);
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    const res = await rec.append([{ id: 'e7' }, { id: 'e8' }]);
    expect(res.sealed.map((r) => r.seq)).to.deep.equal([4]);
    expect((await indexJson()).segments).to.deep.equal([...full.segments, res.sealed[0]]);
  });

  it('drops records of files that are gone, keeps lastSeq', async () => {
    await threeSegments();
    const full = await indexJson();
    await rm(join(storePaths(tmp.dir).segments, full.segments[0]!.file));
    expect((await listSegments(ctx())).map((s) => s.seq)).to.deep.equal([2, 3, 4]);
    await (await openRecorder(tmp.dir)).rotate();
    const after = await indexJson();
    expect(after.segments.map((r) => r.seq)).to.deep.equal([2, 3, 4]);
    expect(after.lastSeq).to.equal(4);
  });

  it('treats an unreadable index as missing', async () => {
    await threeSegments();
    await writeFile(storePaths(tmp.dir).index, '{"version":1,"segm');
    expect(await readIndex(storePaths(tmp.dir))).to.equal(undefined);
    expect((await listSegments(ctx())).map((s) => s.seq)).to.deep.equal([1, 2, 3, 4]);
    await (await openRecorder(tmp.dir)).rotate();
    expect((await indexJson()).segments.map((r) => r.seq)).to.deep.equal([1, 2, 3, 4]);
  });

  it('ignores foreign files and symlinks named like segments', async () => {
    await threeSegments();
    const seg = storePaths(tmp.dir).segments;
    await writeFile(join(seg, 'notes.txt'), 'mine');
    await symlink(join(tmp.dir, 'metrics.json'), join(seg, 'metrics-00000009-20260101T000000000Z.jsonl'));
    await rm(storePaths(tmp.dir).index);
    expect((await listSegments(ctx())).map((s) => s.seq)).to.deep.equal([1, 2, 3, 4]);
    const res = await (await openRecorder(tmp.dir)).rotate();
    expect(res.sealed?.seq).to.equal(4);
    expect((await indexJson()).segments.map((r) => r.file)).to.not.include('metrics-00000009-20260101T000000000Z.jsonl');
  });

  describe('listSegments', () => {
    it('lists sealed segments then the active file, counting only complete active lines', async () => {
      await threeSegments();
      await writeFile(join(tmp.dir, 'metrics.json'), `${JSON.stringify({ id: 'e6', recorded_at: 'r6' })}\n{"id":"to`, { flag: 'w' });
      const listed = await listSegments(ctx());
      const active = listed.at(-1)!;
      expect(active).to.deep.equal({
        seq: 4,
        file: 'metrics.json',
        state: 'active',
        lines: 1,
        bytes: Buffer.byteLength(JSON.stringify({ id: 'e6', recorded_at: 'r6' })) + 1,
        firstRecordedAt: 'r6',
        lastRecordedAt: 'r6',
        sealedAt: null,
      });
      expect(listed[0]!.sealedAt).to.be.a('string');
    });

    it('is empty for an empty root, and lists no active file before the first append', async () => {
      expect(await listSegments(ctx())).to.deep.equal([]);
      await (await openRecorder(tmp.dir)).rotate();
      expect(await listSegments(ctx())).to.deep.equal([]);
    });
  });
});
