import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { basePath } from '../../lib/aggregate/checkpoint.js';
import { orchestratorReducer } from '../../lib/aggregate/orchestrator.js';
import type { Reducer } from '../../lib/aggregate/reducer.js';
import { archive } from '../../lib/archive/archiver.js';
import { retention } from '../../lib/retention/retention.js';
import type { StoreOptions } from '../../lib/store/recorder.js';
import { storePaths } from '../../lib/store/names.js';
import { useS3Server } from '../helpers/s3-server.js';
import { useTmpDir } from '../helpers/tmp.js';
import { aggregateSnapshot, buildHistory, expectNonTrivial, expectSameAggregates, readOutputs, sealedFiles } from '../retention/history.js';
import { dirArchive, s3Archive, storeIdOf, type ArchiveUnderTest } from './helpers.js';

/** Runs and summed tokens per tool, in first-seen order: a reducer retention never folded. */
const tools: Reducer<Map<string, { runs: number; tokens: number }>> = {
  name: 'tools',
  version: 1,
  init: () => new Map(),
  step(state, e) {
    for (const t of Array.isArray(e['tool_stats']) ? (e['tool_stats'] as Array<Record<string, unknown>>) : []) {
      const name = String(t['tool']);
      const cur = state.get(name) ?? { runs: 0, tokens: 0 };
      state.set(name, { runs: cur.runs + 1, tokens: cur.tokens + (typeof t['tokens'] === 'number' ? t['tokens'] : 0) });
    }
  },
  toJSON: (state) => [...state],
  fromJSON: (json) => new Map(json as Array<[string, { runs: number; tokens: number }]>),
  outputs: (state) => [{ place: 'metrics', name: 'tools.json', data: { tools: [...state] } }],
};

const bumped: Reducer<any> = { ...orchestratorReducer, version: orchestratorReducer.version + 1 };

/** AWS_* for the library's own reads of an S3 archive (the CLI gets them from its env). */
async function withEnv<T>(env: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await work();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function rebuildBehaviour(make: (n: number) => ArchiveUnderTest | undefined, compress: 'gzip' | undefined): void {
  const tmp = useTmpDir();
  let n = 0;

  /** Two identical stores; `lean` archives and then retention deletes all but one segment. */
  async function twoStores() {
    const a = make(++n)!;
    const lean = join(tmp.dir, 'lean');
    const h = await buildHistory(lean, { entries: 60, ...(compress ? { compress } : {}) });
    const kept = join(tmp.dir, 'kept');
    await cp(lean, kept, { recursive: true });
    const keptOpts: StoreOptions = { ...h.options, dir: kept };
    const leanOpts: StoreOptions = { ...h.options, archive: a.url, ...(a.env['CODEX_METRICS_S3_ENDPOINT'] ? { s3Endpoint: a.env['CODEX_METRICS_S3_ENDPOINT'] } : {}) };
    await aggregate(leanOpts);
    await aggregate(keptOpts);
    const sealed = await sealedFiles(h.paths);
    const archived = await archive({ ...leanOpts, env: { ...process.env, ...a.env } });
    expect(archived.archived).to.deep.equal(sealed);
    const r = await retention({ ...leanOpts, retention: { maxSegments: 1 } });
    expect(r.deleted).to.deep.equal(sealed.slice(0, -1));
    return { a, lean, kept, leanOpts, keptOpts, storeId: storeIdOf(lean) };
  }

  it('after retention, a rebuild, a reducer version bump and a new custom reducer equal a store that kept everything', async function () {
    this.timeout(120_000);
    const s = await twoStores();
    await withEnv(s.a.env, async () => {
      const expected = await aggregateSnapshot(s.keptOpts, true);
      expectNonTrivial(expected);
      expectSameAggregates(await aggregateSnapshot(s.leanOpts, true), expected);

      // A new version of the reducer: the base it cannot use is rebuilt from the archive.
      const lean = await aggregate({ ...s.leanOpts, reducer: bumped });
      const kept = await aggregate({ ...s.keptOpts, reducer: bumped });
      expect(lean.mode).to.equal('rebuild');
      expect(lean.totals).to.deep.equal(kept.totals);
      expect(await readOutputs(s.lean)).to.deep.equal(await readOutputs(s.kept));
      const base = JSON.parse(await readFile(basePath(storePaths(s.lean), bumped), 'utf8')) as { reducer: { version: number } };
      expect(base.reducer.version).to.equal(bumped.version);
      // ...and retention goes on with the new version (its base is of that version now).
      await retention({ ...s.leanOpts, reducers: [bumped], retention: { maxSegments: 0 } });
      const after = await aggregate({ ...s.leanOpts, reducer: bumped, rebuild: true });
      expect(after.totals).to.deep.equal(kept.totals);

      // A reducer retention never folded reads the deleted history from the archive too.
      await aggregate({ ...s.leanOpts, reducer: tools });
      await aggregate({ ...s.keptOpts, reducer: tools });
      const toolsOut = async (root: string) => JSON.parse(await readFile(join(root, 'metrics', 'tools.json'), 'utf8')) as unknown;
      expect(await toolsOut(s.lean)).to.deep.equal(await toolsOut(s.kept));
    });
  });

  it('refuses to rebuild from an archived segment altered since it was archived, and writes nothing', async function () {
    this.timeout(120_000);
    const s = await twoStores();
    const first = (await s.a.names(s.storeId)).find((f) => f.startsWith('metrics-'))!;
    await s.a.replace(s.storeId, first, Buffer.from('{"run_id":"forged","status":"succeeded","recorded_at":"2026-01-01T00:00:00Z"}\n'));
    const before = await readOutputs(s.lean);
    const err = await withEnv(s.a.env, () => aggregate({ ...s.leanOpts, reducer: bumped })).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).to.match(new RegExp(`${first.replace(/\./g, '\\.')} does not match its sha256`));
    expect(await readOutputs(s.lean)).to.deep.equal(before);
  });

  it('without an archive, a version bump after retention is still the error it was (the history is gone)', async function () {
    this.timeout(120_000);
    const s = await twoStores();
    const { archive: _gone, ...noArchive } = s.leanOpts;
    const err = await aggregate({ ...noArchive, reducer: bumped }).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).to.match(/was folded by reducer orchestrator v\d+; orchestrator v\d+ cannot rebuild/);
  });
}

describe('rebuilds read what retention deleted from a directory archive', function () {
  const tmp = useTmpDir();
  rebuildBehaviour((n) => dirArchive(join(tmp.dir, `archive-${n}`)), undefined);
});

describe('rebuilds read what retention deleted from S3 (a real Ceph RADOS Gateway), gzip segments', function () {
  const s3 = useS3Server();
  const bucket = 'rebuild-test';
  before(async function () {
    if (s3.server) await s3.server.client.createBucket(bucket);
  });
  rebuildBehaviour((n) => (s3.server ? s3Archive(s3.server, bucket, `run-${n}`) : undefined), 'gzip');
});
