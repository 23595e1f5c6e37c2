import { expect } from 'chai';
import { join } from 'node:path';
import { classifyLine, MAX_NESTING } from '../../lib/aggregate/classify.js';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

/** A valid entry whose duration_seconds is `depth` arrays deep. */
const deepEntry = (depth: number, runId = 'deep') =>
  `{"run_id":"${runId}","status":"succeeded","recorded_at":"2026-01-01T00:00:00Z","duration_seconds":${'['.repeat(depth)}1${']'.repeat(depth)}}`;

describe('aggregate: deeply nested entries never stop aggregation', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'root');

  it('counts a first entry nested 5,000 arrays deep as invalid with file:line; aggregate, --rebuild and verify all finish (real processes)', async () => {
    const r = await runCli(['record', '--dir', root()], { input: `${deepEntry(5000)}\n${jsonl([runEntry(1), runEntry(2)])}` });
    expect(r.code, r.stderr).to.equal(0);
    for (const args of [['aggregate'], ['aggregate', '--rebuild']]) {
      const a = await runCli([...args, '--dir', root(), '--json']);
      expect(a.code, `${args.join(' ')}: ${a.stderr}`).to.equal(0);
      const json = JSON.parse(a.stdout);
      expect(json.totalRuns).to.equal(2);
      if (args.length === 2) expect(json.invalid).to.equal(1);
    }
    const human = await runCli(['aggregate', '--dir', root(), '--rebuild']);
    expect(human.stdout).to.match(/skipped metrics\.json:1 \(invalid: nested 5001 levels deep/);
    const v = JSON.parse((await runCli(['verify', '--dir', root(), '--json'])).stdout);
    expect(v.ok).to.equal(true);
    expect(v.problems).to.deep.include({ file: 'metrics.json:1', kind: 'invalid', detail: `nested 5001 levels deep (more than ${MAX_NESTING} cannot count)`, severity: 'warning' });
  });

  it('draws the line at the nesting limit, and brackets inside strings do not count', () => {
    expect(classifyLine(deepEntry(MAX_NESTING - 1)).kind).to.equal('run');
    expect(classifyLine(deepEntry(MAX_NESTING)).kind).to.equal('invalid');
    expect(classifyLine(JSON.stringify({ ...runEntry(1), note: '['.repeat(5000) })).kind).to.equal('run');
  });
});
