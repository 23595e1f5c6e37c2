import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { readOutputs, rebuildInCopy } from './aggregate/helpers.js';
import { writerEnv } from './helpers/appender.js';
import { jsonl, outputOf, runCli, runEntry } from './helpers/cli.js';
import { orchestratorOutputs } from './helpers/orchestrator.js';
import { expectExactlyOnce } from './helpers/store.js';
import { useTmpDir } from './helpers/tmp.js';

const OLD_WRITER = fileURLToPath(new URL('./helpers/orchestrator-writer.js', import.meta.url));

/** A writer process in the orchestrator's way; resolves with the run_ids it acknowledged. */
async function oldWriter(args: { root: string; prefix: string; count: number; lockFormat: 'owner' | 'uuid' }): Promise<string[]> {
  const r = await outputOf(spawn(process.execPath, [OLD_WRITER, JSON.stringify(args)], { env: writerEnv({}), stdio: ['ignore', 'pipe', 'pipe'] }));
  if (r.code !== 0) throw new Error(`old writer exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

describe('a mixed fleet: the orchestrator\'s old writers beside this project\'s record (real processes)', function () {
  this.timeout(240_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, '.runs', 'task');

  it('without rotation, every entry is stored exactly once and both aggregators agree', async () => {
    const acked: string[] = [];
    const newWriter = async (w: number) => {
      for (let b = 0; b < 6; b++) {
        const batch = [0, 1].map((k) => runEntry(0, { run_id: `n${w}-${b}-${k}`, recorded_at: new Date().toISOString() }));
        const r = await runCli(['record', '--dir', root(), '--json'], { input: jsonl(batch), env: { CODEX_METRICS_LOG_LEVEL: 'error' } });
        expect(r.code, r.stderr).to.equal(0);
        acked.push(...batch.map((e) => e.run_id as string));
      }
    };
    const olds = await Promise.all([
      oldWriter({ root: root(), prefix: 'o0', count: 25, lockFormat: 'owner' }),
      oldWriter({ root: root(), prefix: 'o1', count: 25, lockFormat: 'uuid' }),
      oldWriter({ root: root(), prefix: 'o2', count: 25, lockFormat: 'owner' }),
      newWriter(0),
      newWriter(1),
      newWriter(2),
    ]);
    for (const ids of olds.slice(0, 3) as string[][]) acked.push(...ids);
    // Whatever is still spilled, the next lock holder merges.
    expect((await runCli(['record', '--dir', root()], { input: '' })).code).to.equal(0);
    const text = await readFile(join(root(), 'metrics.json'), 'utf8');
    const stored = text.split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { run_id: string }).run_id);
    expectExactlyOnce(stored, acked);
    expect(stored).to.have.length(75 + 36);

    const agg = await runCli(['aggregate', '--dir', root(), '--json']);
    expect(agg.code, agg.stderr).to.equal(0);
    expect(JSON.parse(agg.stdout)).to.include({ totalRuns: 111, malformed: 0, invalid: 0, duplicates: 0 });
    const ours = await readOutputs(root());
    expect(orchestratorOutputs(text), 'the orchestrator\'s aggregator over metrics.json').to.deep.equal(ours);
    expect((await rebuildInCopy(root(), tmp.dir)).outputs).to.deep.equal(ours);
  });

  it('with rotation on, the recorder warns once, saying what to do, when it sees the old writers\' traces', async () => {
    await mkdir(join(root(), 'metrics.pending'), { recursive: true });
    await writeFile(join(root(), 'metrics.pending', `run-1-${Date.now()}-${randomUUID()}.jsonl`), `${JSON.stringify(runEntry(1))}\n`);
    const rotating = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(2)]), env: { CODEX_METRICS_MAX_LINES: '1000' } });
    expect(rotating.code).to.equal(0);
    const warnings = rotating.stderr.split('\n').filter((l) => l.includes('old writers'));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include('Turn rotation off').and.include('flatten');
    await writeFile(join(root(), 'metrics.lock'), 'locked');
    const busy = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(3)]), env: { CODEX_METRICS_MAX_LINES: '1000' } });
    expect(busy.stderr).to.include('foreign format').and.include('"locked"');
    await writeFile(join(root(), 'metrics.pending', `run-4-${Date.now()}-${randomUUID()}.jsonl`), `${JSON.stringify(runEntry(4))}\n`);
    const { rm } = await import('node:fs/promises');
    await rm(join(root(), 'metrics.lock'));
    const quiet = await runCli(['record', '--dir', root()], { input: jsonl([runEntry(5)]) });
    expect(quiet.stderr, 'rotation off: old and new writers see the same entries').to.equal('');
  });
});
