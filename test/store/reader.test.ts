import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { storePaths } from '../../lib/store/names.js';
import { openSnapshot, readFrom, sampleLineBytes } from '../../lib/store/reader.js';
import { startAppender } from '../helpers/appender.js';
import { useTmpDir } from '../helpers/tmp.js';
import { openRecorder } from '../helpers/store.js';

describe('reader: sampleLineBytes (sizing a long pass)', function () {
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');
  const line = (i: number, pad: number) => ({ run_id: `r${i}`, status: 'ok', recorded_at: 't', pad: 'x'.repeat(pad) });

  it('averages the whole lines at the cursor: a sealed plain segment, then the active file from the offset', async () => {
    const rec = await openRecorder(root(), { maxLines: 4 });
    // Segment 1: four lines of one size; active: lines of another.
    await rec.append([0, 1, 2, 3].map((i) => line(i, 100)));
    await rec.append([4, 5, 6].map((i) => line(i, 300)));
    await rec.close();
    const snap = await openSnapshot(storePaths(root()));
    try {
      const first = Buffer.byteLength(`${JSON.stringify(line(0, 100))}\n`);
      const later = Buffer.byteLength(`${JSON.stringify(line(4, 300))}\n`);
      expect(sampleLineBytes(storePaths(root()), snap, { seq: 1, offset: 0, line: 0 })).to.equal(first);
      expect(sampleLineBytes(storePaths(root()), snap, { seq: 2, offset: later, line: 1 })).to.equal(later);
      // Nothing whole at the end of the active file.
      expect(sampleLineBytes(storePaths(root()), snap, { seq: 2, offset: 3 * later, line: 3 })).to.equal(undefined);
    } finally {
      await snap.close();
    }
  });

  it('gives no figure for a compressed segment (no random access)', async () => {
    const rec = await openRecorder(root(), { maxLines: 2, compress: 'gzip' });
    await rec.append([0, 1, 2].map((i) => line(i, 50)));
    await rec.close();
    const snap = await openSnapshot(storePaths(root()));
    try {
      expect(snap.sealed[0]?.compressed).to.equal(true);
      expect(sampleLineBytes(storePaths(root()), snap, { seq: 1, offset: 0, line: 0 })).to.equal(undefined);
    } finally {
      await snap.close();
    }
  });

  it('takes the active seq from index.json, laid out as the store writes it or otherwise', async () => {
    const paths = storePaths(root());
    await mkdir(paths.segments, { recursive: true });
    for (const [text, lastSeq] of [
      [JSON.stringify({ version: 1, lastSeq: 7, segments: [] }, null, 2), 7],
      // Another key order (a hand edit): read in full.
      [JSON.stringify({ segments: [], lastSeq: 9, version: 1 }), 9],
    ] as const) {
      await writeFile(paths.index, text);
      const snap = await openSnapshot(paths);
      try {
        expect(snap.activeSeq).to.equal(lastSeq + 1);
      } finally {
        await snap.close();
      }
    }
  });

  it('a snapshot taken while another process seals on every append holds each line once, in order', async function () {
    this.timeout(120_000);
    // A seal between opening metrics.json and listing the segments would list the
    // opened file as a segment too: its lines read twice.
    const paths = storePaths(root());
    const count = 400;
    const writer = startAppender({ dir: root(), prefix: 's', count, lockWaitMs: 60_000 }, { CODEX_METRICS_MAX_LINES: '1' });
    let ended = false;
    void writer.done.then(() => (ended = true));
    let snapshots = 0;
    const check = async (): Promise<string[]> => {
      const snap = await openSnapshot(paths);
      const ids: string[] = [];
      try {
        await readFrom(paths, snap, { seq: 1, offset: 0, line: 0 }, (text) => ids.push((JSON.parse(text) as { id: string }).id));
      } finally {
        await snap.close();
      }
      snapshots++;
      expect(ids, `snapshot ${snapshots}`).to.deep.equal(ids.map((_, j) => `s-${j}`));
      return ids;
    };
    while (!ended) await check();
    expect((await writer.done).code).to.equal(0);
    expect(await check()).to.have.length(count);
    expect(snapshots).to.be.greaterThan(20);
  });
});
