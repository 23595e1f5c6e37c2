import { cp, readdir, readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { retention } from '../../lib/retention/retention.js';
import { useTmpDir } from '../helpers/tmp.js';
import { buildHistory, sealedFiles } from './history.js';

/** Bytes this process has read through read(2) and friends so far (page cache hits included). */
async function bytesRead(): Promise<number> {
  return Number(/^rchar: (\d+)$/m.exec(await readFile('/proc/self/io', 'utf8'))![1]);
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

describe('retention: cost of an aggregated store', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();

  it('folding an aggregated store reads the run-id index once, not a bucket per line: about what a never-aggregated copy reads', async function () {
    if (!existsSync('/proc/self/io')) this.skip();
    const h = await buildHistory(join(tmp.dir, 'aggregated'), { entries: 1500, maxLines: 50 });
    const copy = { ...h.options, dir: join(tmp.dir, 'copy') };
    await cp(h.options.dir!, copy.dir, { recursive: true });
    const before = await aggregate(h.options);
    const index = await dirBytes(join(h.paths.metrics, 'run-ids'));
    const sealed = await sealedFiles(h.paths);
    expect(sealed.length).to.be.greaterThan(20);
    const keep = Math.floor(sealed.length / 2);

    const measure = async (options: typeof h.options) => {
      const r0 = await bytesRead();
      const r = await retention({ ...options, retention: { maxSegments: keep } });
      expect(r.deleted).to.have.length(sealed.length - keep);
      return (await bytesRead()) - r0;
    };
    const copyRead = await measure(copy);
    const aggregatedRead = await measure(h.options);
    // The aggregated store has an index to read (once); a bucket per line read it ~750 times over.
    expect(aggregatedRead, `read ${aggregatedRead} bytes, the copy ${copyRead}, the index is ${index}`).to.be.at.most(copyRead + 2 * index + (64 << 10));

    // And it counted the same: the aggregates after retention are those of before.
    const after = await aggregate({ ...h.options, rebuild: true });
    expect(after.totals).to.deep.equal(before.totals);
    expect(after.duplicates).to.be.greaterThan(0);
  });
});
