import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { archive } from '../../lib/archive/archiver.js';
import { runEntry } from '../helpers/cli.js';
import { openRecorder } from '../helpers/store.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { buildHistory } from '../retention/history.js';

/** A second store whose run_ids overlap the first's (runs 30-59 again, as failures), gzip segments, a malformed line. */
async function overlappingStore(root: string): Promise<void> {
  const rec = await openRecorder(root, { maxLines: 7, compress: 'gzip', fsync: 'never' });
  for (let i = 30; i < 90; i += 4) await rec.append([0, 1, 2, 3].map((k) => runEntry(i + k, { status: 'failed', cost_usd: 0.25 })));
  await rec.close();
  await appendFile(join(root, 'metrics.json'), '{"broken": \n');
}

describe('examples: fleet query with DuckDB over a directory archive of several stores', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();

  it('counts runs, successes, completion rate and per-epoch cost as the aggregator does over the union of the histories', async function () {
    let fleetQuery: typeof import('../../examples/fleet-duckdb.js').fleetQuery;
    try {
      await import('@duckdb/node-api');
      ({ fleetQuery } = await import('../../examples/fleet-duckdb.js'));
    } catch (err) {
      console.log(`      skipped: @duckdb/node-api cannot be loaded (run npm ci): ${(err as Error).message}`);
      this.skip();
    }
    const archiveDir = join(tmp.dir, 'archive');
    const a = join(tmp.dir, 'a');
    const b = join(tmp.dir, 'b');
    await buildHistory(a, { entries: 60 });
    await overlappingStore(b);
    for (const root of [a, b]) {
      const rec = await openRecorder(root, { fsync: 'never' });
      await rec.rotate();
      await rec.close();
      await archive({ dir: root, to: archiveDir, log: quietLog });
    }

    // The union: every archived segment, in archive path order (store, then seq), as one history.
    const union = join(tmp.dir, 'union');
    await mkdir(union);
    for (const store of (await readdir(archiveDir)).sort()) {
      for (const f of (await readdir(join(archiveDir, store))).filter((n) => n.startsWith('metrics-')).sort()) {
        const raw = await readFile(join(archiveDir, store, f));
        await appendFile(join(union, 'metrics.json'), f.endsWith('.gz') ? gunzipSync(raw) : raw);
      }
    }
    const agg = await aggregate({ dir: union, log: quietLog });
    expect(agg.totals.duplicates).to.be.greaterThan(20);
    const post = JSON.parse(await readFile(join(union, 'metrics', 'post-rollout.json'), 'utf8')) as Record<string, number>;
    const perEpoch = JSON.parse(await readFile(join(union, 'metrics', 'per-epoch.json'), 'utf8')) as { epochs: Array<Record<string, number>> };

    const fleet = await fleetQuery!(archiveDir);
    expect(fleet.total_runs).to.equal(post['total_runs']);
    expect(fleet.succeeded_runs).to.equal(post['succeeded_runs']);
    expect(fleet.completion_rate).to.be.closeTo(post['completion_rate']!, 1e-12);
    expect(fleet.epochs).to.deep.equal(perEpoch.epochs.map((e) => ({ epoch: e['epoch'], runs: e['runs'], cost_usd: e['cost_usd'] })));
  });
});
