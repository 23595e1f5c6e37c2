import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { storePaths } from '../../lib/store/names.js';
import { rebuildInCopy, readOutputs } from '../aggregate/helpers.js';
import { writerEnv } from '../helpers/appender.js';
import { jsonl, runCli, runEntry, type CliResult } from '../helpers/cli.js';
import { fillDisk, useSmallDisk } from '../helpers/small-disk.js';
import { useTmpDir } from '../helpers/tmp.js';

/** Every file under `dir` with its bytes (the filler excluded): what "old files intact" compares. */
function snapshot(dir: string, out = new Map<string, string>(), prefix = ''): Map<string, string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory()) snapshot(join(dir, e.name), out, `${rel}/`);
    else if (e.isFile() && !rel.endsWith('.lock')) out.set(rel, readFileSync(join(dir, e.name)).toString('base64'));
  }
  return out;
}

function jsonFilesValid(dir: string): void {
  for (const [rel] of snapshot(dir)) {
    if (rel.endsWith('.json') && rel !== 'metrics.json') expect(() => JSON.parse(readFileSync(join(dir, rel), 'utf8')), rel).to.not.throw();
    expect(rel, 'temp file left').to.not.match(/\.tmp$/);
  }
}

/** Entries whose reducer state is large: one epoch each, several tools (the retained base grows with them). */
function bigEntry(i: number): Record<string, unknown> {
  return runEntry(i, {
    tfgrpo_epoch: i,
    tool_stats: Array.from({ length: 6 }, (_, t) => ({ tool: `tool-${t}-${'x'.repeat(20)}`, tokens: i + t, cost_usd: 0.0001 * t, latency_ms: t })),
  });
}

const DISK_FULL = /^codex-metrics: the disk is full \((ENOSPC|EDQUOT) writing .+\): free some space, then run the command again; nothing was lost/;

function lastLine(r: CliResult): string {
  return r.stderr.trimEnd().split('\n').at(-1)!;
}

/** Room for the lock files (a tmpfs page each), so a command gets past its locks to the write a test is about. */
const LOCKS_FIT = 8 * 1024;

describe('store: a real full disk (a small tmpfs)', function () {
  this.timeout(120_000);
  const disk = useSmallDisk(4 * 1024 * 1024);
  const scratch = useTmpDir();
  const root = () => join(disk.dir, 'root');
  const filler = () => join(disk.dir, 'filler');
  const cli = (args: string[], env: Record<string, string> = {}, input?: string) =>
    runCli([...args, '--dir', root()], { env: writerEnv({ CODEX_METRICS_MAX_LINES: '50', ...env }), ...(input !== undefined ? { input } : {}) });
  const record = async (from: number, n: number, env: Record<string, string> = {}) => {
    const r = await cli(['record'], env, jsonl(Array.from({ length: n }, (_, i) => bigEntry(from + i))));
    expect(r.code, r.stderr).to.equal(0);
  };
  /** With room again: aggregate, verify and a rebuild agree, and every acknowledged run is counted once. */
  const expectHealedAndExact = async (acked: number) => {
    await rm(filler(), { force: true });
    const agg = await cli(['aggregate']);
    expect(agg.code, agg.stderr).to.equal(0);
    const verify = await cli(['verify', '--json']);
    expect(verify.code, verify.stdout).to.equal(0);
    const fresh = await rebuildInCopy(root(), scratch.dir);
    expect(await readOutputs(root())).to.deep.equal(fresh.outputs);
    expect(fresh.result.totals.runs).to.equal(acked);
  };

  it('retention with ~32 KB free fails with "disk is full", keeps the old files byte for byte, and succeeds once there is room', async () => {
    await record(0, 400);
    expect((await cli(['aggregate'])).code).to.equal(0);
    const segmentsBefore = readdirSync(storePaths(root()).segments).filter((f) => /^metrics-\d+-.*\.jsonl$/.test(f)).length;
    fillDisk(filler(), 32 * 1024);
    const before = snapshot(root());
    const r = await cli(['retention', '--max-segments', '1', '--json']);
    expect(r.code, r.stderr).to.equal(1);
    expect(lastLine(r)).to.match(DISK_FULL);
    expect(r.stdout).to.equal('');
    // Nothing replaced by a truncated file, nothing deleted: the store is as it was (the run-id index may have grown whole records).
    const after = snapshot(root());
    for (const [rel, bytes] of before) {
      if (!rel.startsWith('metrics/run-ids/')) expect(after.get(rel), rel).to.equal(bytes);
    }
    expect([...after.keys()].filter((k) => !before.has(k) && !k.startsWith('metrics/run-ids/'))).to.deep.equal([]);
    jsonFilesValid(root());
    expect((await cli(['verify'])).code).to.equal(0);

    await rm(filler());
    const again = await cli(['retention', '--max-segments', '1', '--json']);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout).deleted).to.have.length(segmentsBefore - 1);
    const base = JSON.parse(await readFile(join(storePaths(root()).metrics, 'retained-base.json'), 'utf8')) as { sha256?: string };
    expect(base.sha256).to.match(/^[0-9a-f]{64}$/);
    await expectHealedAndExact(400);
  });

  it('aggregate on a full disk fails with "disk is full"; the previous outputs and checkpoint stay whole', async () => {
    await record(0, 120);
    expect((await cli(['aggregate'])).code).to.equal(0);
    await record(120, 200);
    const metricsDir = storePaths(root()).metrics;
    fillDisk(filler(), LOCKS_FIT);
    const before = snapshot(metricsDir);
    const r = await cli(['aggregate']);
    expect(r.code, r.stderr).to.equal(1);
    expect(lastLine(r)).to.match(DISK_FULL);
    // Past its locks, at its own outputs (or the run-id index before them), not at the lock file.
    expect(lastLine(r)).to.match(/writing \S+\/metrics\/(post-rollout|completeness|baseline|mttr-delta|per-epoch|aggregate-state)\.json|writing \S+\/run-ids\//);
    const after = snapshot(metricsDir);
    for (const [rel, bytes] of before) {
      if (!rel.startsWith('run-ids/')) expect(after.get(rel), rel).to.equal(bytes);
    }
    jsonFilesValid(root());
    await expectHealedAndExact(320);
  });

  it('record on a full disk fails with "disk is full"; metrics.json keeps every acknowledged line and no partial one', async () => {
    await record(0, 30);
    const active = storePaths(root()).active;
    const bytes = statSync(active).size;
    fillDisk(filler(), LOCKS_FIT);
    const r = await cli(['record'], {}, jsonl(Array.from({ length: 40 }, (_, i) => bigEntry(100 + i))));
    expect(r.code, r.stderr).to.equal(1);
    expect(lastLine(r)).to.match(DISK_FULL);
    expect(lastLine(r)).to.match(/writing \S+\/metrics\.json\)/);
    expect(statSync(active).size).to.equal(bytes);
    jsonFilesValid(root());
    await rm(filler());
    await record(200, 1);
    await expectHealedAndExact(31);
  });

  it('a gzip seal on a full disk leaves a store verify passes at once: the seal is finished uncompressed or undone', async () => {
    const gzip = { CODEX_METRICS_COMPRESS: 'gzip' };
    await record(0, 120, gzip);
    await record(120, 25, gzip);
    fillDisk(filler(), LOCKS_FIT);
    const r = await cli(['record'], gzip, jsonl(Array.from({ length: 20 }, (_, i) => bigEntry(300 + i))));
    expect(r.signal).to.equal(null);
    // The batch reaches the seal point after 5 lines (45 + 5 = MAX_LINES): the seal is tried on the full disk.
    if (r.code !== 0) expect(lastLine(r)).to.match(/writing \S+\/metrics\.segments\//);
    if (r.code !== 0) expect(lastLine(r)).to.match(DISK_FULL);
    jsonFilesValid(root());
    const verify = await cli(['verify', '--json']);
    expect(verify.code, verify.stdout).to.equal(0);
    await rm(filler());
    await record(400, 60, gzip);
    // The 5 lines before the seal point were appended before the seal failed (README: a full disk).
    await expectHealedAndExact(205 + (r.code === 0 ? 20 : 5));
  });
});
