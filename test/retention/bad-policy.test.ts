import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { UsageError } from '../../lib/errors.js';
import { retention } from '../../lib/retention/retention.js';
import { runCli } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { buildHistory, listing } from './history.js';

describe('retention: bad policy values', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  const cases: Array<{ name: string; args: string[]; env?: Record<string, string>; mentions: string[] }> = [
    { name: '--max-segments -1', args: ['--max-segments', '-1'], mentions: ['--max-segments'] },
    { name: '--max-segments=-1', args: ['--max-segments=-1'], mentions: ['--max-segments', '-1'] },
    { name: '--max-segments 2.5', args: ['--max-segments', '2.5'], mentions: ['--max-segments', '2.5'] },
    { name: "--max-segments ''", args: ['--max-segments', ''], mentions: ['--max-segments', 'expected a value'] },
    { name: '--max-age abc', args: ['--max-age', 'abc'], mentions: ['--max-age', 'abc', 'duration'] },
    { name: '--max-bytes 10 parsecs', args: ['--max-bytes', '10 parsecs'], mentions: ['--max-bytes', '10 parsecs', 'size'] },
    { name: 'CODEX_METRICS_RETENTION_MAX_BYTES=xyz', args: [], env: { CODEX_METRICS_RETENTION_MAX_BYTES: 'xyz' }, mentions: ['CODEX_METRICS_RETENTION_MAX_BYTES', 'xyz'] },
    { name: 'CODEX_METRICS_RETENTION_MAX_SEGMENTS=-3', args: [], env: { CODEX_METRICS_RETENTION_MAX_SEGMENTS: '-3' }, mentions: ['CODEX_METRICS_RETENTION_MAX_SEGMENTS', '-3'] },
    { name: 'CODEX_METRICS_RETENTION_MAX_AGE=soon', args: [], env: { CODEX_METRICS_RETENTION_MAX_AGE: 'soon' }, mentions: ['CODEX_METRICS_RETENTION_MAX_AGE', 'soon'] },
  ];

  for (const c of cases) {
    it(`${c.name}: exit 2, a clear error, nothing deleted even when another limit is valid`, async () => {
      await buildHistory(tmp.dir, { entries: 30 });
      const files = await listing(tmp.dir);
      // A valid limit beside the bad one must not be applied on its own.
      const valid = c.args.some((a) => a.startsWith('--max-segments')) ? ['--max-age', '0'] : ['--max-segments', '0'];
      const r = await runCli(['retention', '--dir', tmp.dir, ...valid, ...c.args, '--json'], { env: c.env ?? {} });
      expect(r.code).to.equal(2);
      expect(r.stdout).to.equal('');
      const lines = r.stderr.trim().split('\n');
      expect(lines.at(-1)).to.match(/^codex-metrics: /);
      for (const m of c.mentions) expect(lines.at(-1)).to.contain(m);
      expect(await listing(tmp.dir)).to.deep.equal(files);
    });
  }

  it('a bad value in the CODEX_METRICS_CONFIG file: exit 2, named, nothing deleted', async () => {
    await buildHistory(join(tmp.dir, 'root'), { entries: 30 });
    const files = await listing(tmp.dir);
    const config = join(tmp.dir, 'codex-metrics.json');
    await writeFile(config, JSON.stringify({ retention: { maxSegments: 'lots' } }));
    const r = await runCli(['retention', '--dir', join(tmp.dir, 'root')], { env: { CODEX_METRICS_CONFIG: config } });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('retention.maxSegments').and.contain('lots');
    expect(await listing(tmp.dir)).to.deep.equal([...files, `codex-metrics.json ${JSON.stringify({ retention: { maxSegments: 'lots' } }).length}`].sort());
  });

  it('API: a bad value throws a UsageError before anything is touched', async () => {
    const h = await buildHistory(tmp.dir, { entries: 30 });
    const files = await listing(tmp.dir);
    for (const bad of [{ maxSegments: -1 }, { maxSegments: 'x' }, { maxAge: 'abc' }, { maxBytes: 1.5 }]) {
      let failure: unknown;
      await retention({ ...h.options, retention: bad }).catch((err: unknown) => (failure = err));
      expect(failure, JSON.stringify(bad)).to.be.instanceOf(UsageError);
    }
    expect(await listing(tmp.dir)).to.deep.equal(files);
  });
});
