import { expect } from 'chai';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useTmpDir } from '../helpers/tmp.js';
import { idsOf, openRecorder, readStore } from '../helpers/store.js';

describe('store/writer: torn tail', () => {
  const tmp = useTmpDir();
  const active = () => join(tmp.dir, 'metrics.json');

  it('moves bytes after the last newline to metrics.corrupt/ before appending, content intact', async () => {
    const rec = await openRecorder(tmp.dir);
    await rec.append([{ id: 'a' }, { id: 'b' }]);
    const torn = '{"id":"c","half":"é…';
    await appendFile(active(), torn);
    const res = await rec.append({ id: 'd' });
    expect(res.recorded).to.equal(1);
    const s = await readStore(tmp.dir);
    expect(idsOf(s.active)).to.deep.equal(['a', 'b', 'd']);
    expect([...s.corrupt.values()]).to.deep.equal([torn]);
    expect([...s.corrupt.keys()][0]).to.match(/^metrics\.json\.torn-tail\./);
  });

  it('quarantines a file that is nothing but a torn tail, never gluing it to the next entry', async () => {
    await writeFile(active(), 'garbage without newline');
    const rec = await openRecorder(tmp.dir);
    await rec.append({ id: 'x' });
    const s = await readStore(tmp.dir);
    expect(s.active).to.deep.equal(['{"id":"x"}']);
    expect([...s.corrupt.values()]).to.deep.equal(['garbage without newline']);
  });

  it('repairs before a seal, so a sealed segment never holds a torn line', async () => {
    const rec = await openRecorder(tmp.dir, { maxLines: 2 });
    await rec.append([{ id: 'a' }, { id: 'b' }]);
    await appendFile(active(), '{"id":"tor');
    await rec.append({ id: 'c' });
    const s = await readStore(tmp.dir);
    expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['a', 'b']]);
    expect(idsOf(s.active)).to.deep.equal(['c']);
    expect([...s.corrupt.values()]).to.deep.equal(['{"id":"tor']);
  });

  it('repairs on rotate and on an empty record too', async () => {
    const rec = await openRecorder(tmp.dir);
    await rec.append({ id: 'a' });
    await appendFile(active(), 'torn1');
    await rec.appendText('');
    expect([...(await readStore(tmp.dir)).corrupt.values()]).to.deep.equal(['torn1']);
    await appendFile(active(), 'torn2');
    const sealed = (await rec.rotate()).sealed!;
    expect(sealed.lines).to.equal(1);
    const s = await readStore(tmp.dir);
    expect(s.segments.map((x) => x.lines)).to.deep.equal([['{"id":"a"}']]);
    expect([...s.corrupt.values()].sort()).to.deep.equal(['torn1', 'torn2']);
  });

  it('keeps complete lines that are not JSON: they are the aggregator\'s to report, not crash residue', async () => {
    await writeFile(active(), 'not json\n');
    const rec = await openRecorder(tmp.dir);
    await rec.append({ id: 'x' });
    const s = await readStore(tmp.dir);
    expect(s.active).to.deep.equal(['not json', '{"id":"x"}']);
    expect(s.corrupt.size).to.equal(0);
  });
});
