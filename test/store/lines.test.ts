import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { scanLines } from '../../lib/store/lines.js';
import { useTmpDir } from '../helpers/tmp.js';

/** What a reader must hand over, worked out from the bytes alone: each line ended by "\n", with its byte offset. */
function expected(bytes: Buffer, start = 0, end = bytes.length): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let from = start, nl = bytes.indexOf(0x0a, from); nl !== -1 && nl < end; from = nl + 1, nl = bytes.indexOf(0x0a, from)) {
    out.push([bytes.toString('utf8', from, nl), from]);
  }
  return out;
}

describe('scanLines: lines and byte offsets from the bytes', function () {
  const tmp = useTmpDir();

  async function scan(bytes: Buffer, opts: { compressed?: boolean; start?: number; end?: number } = {}) {
    const path = join(tmp.dir, opts.compressed ? 'f.jsonl.gz' : 'f.jsonl');
    await writeFile(path, opts.compressed ? gzipSync(bytes) : bytes);
    const seen: Array<[string, number]> = [];
    const r = await scanLines(
      { path, compressed: opts.compressed === true, ...(opts.start !== undefined ? { start: opts.start } : {}), ...(opts.end !== undefined ? { end: opts.end } : {}) },
      (line, at) => seen.push([line, at]),
    );
    return { ...r, seen };
  }

  it('multi-byte UTF-8, blank lines and a torn tail: offsets are byte offsets, the tail is not handed over', async () => {
    const bytes = Buffer.from('{"a":"é"}\n\n{"b":"日本語😀"}\n{"c":1}\n{"torn', 'utf8');
    for (const compressed of [false, true]) {
      const r = await scan(bytes, { compressed });
      expect(r.seen).to.deep.equal(expected(bytes));
      expect(r.lines).to.equal(4);
      expect(r.end).to.equal(bytes.lastIndexOf(0x0a) + 1);
      expect(r.contentEnd).to.equal(bytes.length);
    }
  });

  it('invalid UTF-8 does not move offsets off the bytes, nor drop the last complete line', async () => {
    // 18 bytes, two lines; a decoded 0xFF is a 3-byte U+FFFD, which a string-length count would add.
    const bytes = Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xff]), Buffer.from('"}\n{"y":1}\n')]);
    expect(bytes.length).to.equal(18);
    for (const compressed of [false, true]) {
      const r = await scan(bytes, { compressed });
      expect(r).to.include({ end: 18, lines: 2, contentEnd: 18 });
      expect(r.seen.map(([, at]) => at)).to.deep.equal([0, 10]);
    }
  });

  it('lines longer than a read block, from a start offset, up to an end', async function () {
    const big = 'x'.repeat((1 << 20) + 12345);
    const lines = ['{"first":1}', `{"big":"${big}"}`, '{"é":2}', `{"big2":"${big}"}`, '{"last":3}'];
    const bytes = Buffer.from(`${lines.join('\n')}\n`);
    const start = bytes.indexOf(0x0a) + 1;
    const end = bytes.length - Buffer.byteLength('{"last":3}\n');
    const r = await scan(bytes, { start, end });
    expect(r.seen).to.deep.equal(expected(bytes, start, end));
    expect(r).to.include({ lines: 3, end });
    const gz = await scan(bytes, { compressed: true, start });
    expect(gz.seen).to.deep.equal(expected(bytes, start));
  });
});
