import { expect } from 'chai';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonl, runCli, runEntry, type CliResult } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { readOutput, readOutputs, rebuildInCopy } from './helpers.js';

interface Pass {
  mode: string;
  linesRead: number;
  malformed: number;
  invalid: number;
  duplicates: number;
  totalRuns: number;
}

function ok(r: CliResult): CliResult {
  expect(r.code, `exit ${r.code} ${r.signal ?? ''}\n${r.stderr}`).to.equal(0);
  return r;
}

/**
 * Real processes: writers run `record` while two aggregators run `aggregate`
 * over and over, each pass a separate child process. Every line must be read
 * by exactly one pass, and the end state must equal a rebuild.
 */
describe('aggregate: concurrent aggregators and writers (child processes)', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();

  for (const compress of ['none', 'gzip']) {
    it(`two aggregators beside three writers, segments sealing meanwhile (compress ${compress})`, async () => {
      const root = join(tmp.dir, 'root');
      await mkdir(root);
      const env = { CODEX_METRICS_MAX_LINES: '4', CODEX_METRICS_COMPRESS: compress, CODEX_METRICS_LOCK_STALE_MS: '60000' };
      const WRITERS = 3;
      const BATCHES = 5;
      const PER_BATCH = 3;
      let next = 0;
      const passes: Pass[] = [];
      let writing = WRITERS;

      const writer = async (w: number) => {
        for (let b = 0; b < BATCHES; b++) {
          const entries = Array.from({ length: PER_BATCH }, () => runEntry(next++, { writer: w }));
          const r = ok(await runCli(['record', '--dir', root, '--json'], { env, input: jsonl(entries) }));
          expect(JSON.parse(r.stdout)).to.deep.equal({ recorded: PER_BATCH });
        }
        writing--;
      };
      const aggregator = async () => {
        // Keep aggregating while anyone writes, at least twice.
        for (let i = 0; i < 2 || writing > 0; i++) {
          const r = ok(await runCli(['aggregate', '--dir', root, '--json'], { env }));
          passes.push(JSON.parse(r.stdout) as Pass);
        }
      };
      await Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), aggregator(), aggregator()]);

      const total = WRITERS * BATCHES * PER_BATCH;
      // One more pass picks up whatever was written (or spilled) after the last ones.
      passes.push(JSON.parse(ok(await runCli(['aggregate', '--dir', root, '--json'], { env })).stdout) as Pass);
      expect(passes.at(-1)!.totalRuns).to.equal(total);
      // Passes take turns: none falls back to a rebuild (the first starts from nothing, which
      // is incremental), and every line is read by exactly one pass.
      expect(passes.filter((p) => p.mode === 'rebuild')).to.have.length(0);
      expect(passes.reduce((n, p) => n + p.linesRead, 0)).to.equal(total);
      expect(passes.every((p) => p.malformed + p.invalid + p.duplicates === 0)).to.equal(true);
      for (let i = 1; i < passes.length; i++) expect(passes[i]!.totalRuns).to.be.at.least(passes[i - 1]!.totalRuns);

      expect((await readdir(join(root, 'metrics.segments'))).filter((f) => f.startsWith('metrics-')).length).to.be.at.least(5);
      expect(await readOutputs(root)).to.deep.equal((await rebuildInCopy(root, tmp.dir)).outputs);
      // runEntry: status "failed" when i % 7 === 0 -> ids 0, 7, ..., 42: 7 of 45.
      expect(await readOutput(root, 'metrics/post-rollout.json')).to.include({ total_runs: 45, succeeded_runs: 38 });
    });
  }
});
