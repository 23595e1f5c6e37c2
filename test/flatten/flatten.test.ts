import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readOutputs } from '../aggregate/helpers.js';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { orchestratorOutputs } from '../helpers/orchestrator.js';
import { readStore } from '../helpers/store.js';
import { useTmpDir } from '../helpers/tmp.js';

const runIds = (lines: readonly string[]) => lines.map((l) => (JSON.parse(l) as { run_id: string }).run_id);
const ok = (r: { code: number | null; stderr: string }) => expect(r.code, r.stderr).to.equal(0);

describe('flatten: the way back to one metrics.json (real processes)', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');
  const env = { CODEX_METRICS_MAX_LINES: '4', CODEX_METRICS_COMPRESS: 'gzip' };
  const N = 23;

  /** A rotated store, gzip segments, no retention: N entries in order, a few per record. */
  async function rotatedStore(): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < N; i += 5) {
      const batch = Array.from({ length: Math.min(5, N - i) }, (_, k) => runEntry(i + k));
      ok(await runCli(['record', '--dir', root()], { input: jsonl(batch), env }));
      ids.push(...batch.map((e) => e.run_id as string));
    }
    const s = await readStore(root());
    expect(s.segments.length).to.be.at.least(4);
    expect(s.segments.every((x) => x.file.endsWith('.gz'))).to.equal(true);
    return ids;
  }

  it('writes segments in order (gzip too), then the active file, into metrics.json, each line once; the old shape aggregates to the same outputs', async () => {
    const ids = await rotatedStore();
    ok(await runCli(['aggregate', '--dir', root()], { env }));
    const before = await readOutputs(root());
    const r = await runCli(['flatten', '--dir', root(), '--json'], { env: {} });
    ok(r);
    const json = JSON.parse(r.stdout);
    expect(json.lines).to.equal(N);
    const s = await readStore(root());
    expect(s.segments).to.deep.equal([]);
    expect(runIds(s.active)).to.deep.equal(ids);
    expect((await readdir(join(root(), 'metrics.segments'))).sort()).to.deep.equal(['index.json', 'store.json']);
    // The orchestrator's own aggregator, reading only metrics.json, agrees with the outputs before.
    expect(await orchestratorOutputs(await readFile(join(root(), 'metrics.json'), 'utf8'))).to.deep.equal(before);
    // And so does this project's, rebuilding from the flattened store.
    ok(await runCli(['aggregate', '--dir', root()], { env: {} }));
    expect(await readOutputs(root())).to.deep.equal(before);
    const v = JSON.parse((await runCli(['verify', '--dir', root(), '--json'])).stdout);
    expect(v.ok, JSON.stringify(v)).to.equal(true);
  });

  for (const point of ['flatten:written', 'flatten:journaled', 'flatten:renamed'] as const) {
    it(`killed -9 at ${point}: the next lock holder undoes or finishes it; every line exactly once`, async () => {
      const ids = await rotatedStore();
      const killed = await runCli(['flatten', '--dir', root()], { fault: { step: point, action: 'kill' } });
      expect(killed.signal).to.equal('SIGKILL');
      if (point !== 'flatten:written') {
        const v = JSON.parse((await runCli(['verify', '--dir', root(), '--json'])).stdout);
        expect(v.problems.map((p: { kind: string }) => p.kind)).to.include('flatten-interrupted');
      }
      ok(await runCli(['record', '--dir', root()], { input: '', env: {} }));
      let s = await readStore(root());
      expect(runIds(s.all)).to.deep.equal(ids);
      expect(s.segments.length === 0).to.equal(point === 'flatten:renamed');
      expect(JSON.parse((await runCli(['verify', '--dir', root(), '--json'])).stdout).problems.filter((p: { severity: string }) => p.severity === 'error')).to.deep.equal([]);
      ok(await runCli(['flatten', '--dir', root()], { env: {} }));
      s = await readStore(root());
      expect(s.segments).to.deep.equal([]);
      expect(runIds(s.active)).to.deep.equal(ids);
    });
  }
});
