import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { outputOf, type CliResult } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

function runNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return outputOf(spawn(process.execPath, [join(EXAMPLES, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('examples', function () {
  const tmp = useTmpDir();

  it('demo records, rotates at 500 lines, aggregates and counts the retried run once', async () => {
    const { code, stdout } = await runNode('demo.js', [], { CODEX_METRICS_MAX_LINES: '500' });
    expect(code).to.equal(0);
    expect(stdout).to.match(/recorded 3001 entries/);
    expect(stdout.match(/sealed +500 lines/g)).to.have.length(6);
    expect(stdout).to.match(/1 duplicate, 3000 runs in all/);
    expect(stdout).to.match(/full rebuild for comparison: read 3001 lines, 1 duplicate, 3000 runs/);
    expect(stdout).to.match(/post-rollout\.json +\d+\/3000 succeeded/);
  });

  it('long-lived repo: one process per run, several at once, every run recorded once', async () => {
    const { code, stdout } = await runNode('long-lived-repo.js', [tmp.dir, '24'], { CODEX_METRICS_MAX_LINES: '5' });
    expect(code).to.equal(0);
    const segments = (await readdir(join(tmp.dir, 'metrics.segments'))).filter((f) => f.endsWith('.jsonl'));
    expect(segments).to.have.length(4);
    let lines = 0;
    for (const f of segments) lines += (await readFile(join(tmp.dir, 'metrics.segments', f), 'utf8')).split('\n').length - 1;
    lines += (await readFile(join(tmp.dir, 'metrics.json'), 'utf8')).split('\n').length - 1;
    expect(lines).to.equal(24);
    const agg = JSON.parse(stdout.slice(stdout.indexOf('aggregate: ') + 'aggregate: '.length));
    expect(agg).to.include({ totalRuns: 24, duplicates: 0, malformed: 0, invalid: 0 });
  });

  it('custom reducer: per-pipeline runs through the API, incremental after the first pass', async () => {
    const { code, stdout } = await runNode('custom-reducer.js', [tmp.dir]);
    expect(code).to.equal(0);
    // The first pass starts from nothing; every pass reads only the 40 new lines.
    expect(stdout.split('\n').filter((l) => /^incremental read +40 new lines/.test(l))).to.have.length(10);
    const out = JSON.parse(await readFile(join(tmp.dir, 'metrics', 'pipelines.json'), 'utf8'));
    const total = (out.pipelines as Array<{ runs: number }>).reduce((s, p) => s + p.runs, 0);
    expect(total).to.equal(400);
    expect(out.pipelines.map((p: { pipeline_id: string }) => p.pipeline_id)).to.deep.equal(['build', 'test', 'deploy', 'lint']);
  });
});
