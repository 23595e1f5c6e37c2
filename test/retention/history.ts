import { appendFile, lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { aggregate, type AggregateResult } from '../../lib/aggregate/aggregator.js';
import { classifyLine } from '../../lib/aggregate/classify.js';
import { parseSegmentName, storePaths, type StorePaths } from '../../lib/store/names.js';
import { Recorder, type StoreOptions } from '../../lib/store/recorder.js';
import { runEntry } from '../helpers/cli.js';
import { quietLog } from '../helpers/tmp.js';

/**
 * A store with a history worth aggregating: many sealed segments of
 * realistic entries, with duplicates of early run_ids in later segments,
 * invalid entries and malformed lines (written past the recorder, as a
 * foreign writer or a bad disk would).
 */
export interface History {
  paths: StorePaths;
  options: StoreOptions;
  /** run_ids whose first line sits in the first sealed segment. */
  firstSegmentIds: string[];
}

export async function buildHistory(dir: string, opts: { entries?: number; maxLines?: number; compress?: 'gzip' } = {}): Promise<History> {
  const entries = opts.entries ?? 60;
  const options: StoreOptions = {
    dir,
    maxLines: opts.maxLines ?? 5,
    fsync: 'never',
    log: quietLog,
    ...(opts.compress ? { compress: opts.compress } : {}),
  };
  const paths = storePaths(dir);
  const rec = await Recorder.open(options);
  for (let i = 1; i <= entries; i += 3) {
    const batch = [];
    for (let j = i; j < Math.min(i + 3, entries + 1); j++) batch.push(runEntry(j));
    // Re-sent runs: the first occurrence is early, so retention deletes it.
    if (i % 12 === 10) batch.push(runEntry(1 + (i % 3), { status: 'failed' }));
    if (i % 15 === 7) batch.push({ note: 'no run_id here' });
    await rec.append(batch);
    if (i % 18 === 13) await appendFile(paths.active, '{"run_id": "torn-by-a-foreign-writer"\n');
  }
  const first = (await sealedFiles(paths))[0]!;
  const firstSegmentIds = (await readFile(join(paths.segments, first), 'utf8'))
    .split('\n')
    .map((l) => classifyLine(l))
    .flatMap((c) => (c.kind === 'run' ? [c.runId] : []));
  return { paths, options, firstSegmentIds };
}

/** Sealed segment files in seq order, as the directory has them (regular files only). */
export async function sealedFiles(paths: StorePaths): Promise<string[]> {
  const names = await readdir(paths.segments).catch(() => [] as string[]);
  const out: Array<{ seq: number; file: string }> = [];
  for (const n of names) {
    const p = parseSegmentName(n);
    if (p && (await lstat(join(paths.segments, n))).isFile()) out.push({ seq: p.seq, file: n });
  }
  return out.sort((a, b) => a.seq - b.seq).map((s) => s.file);
}

/** The six contract outputs, updated_at dropped (it is the one field allowed to differ). */
export const OUTPUT_FILES = ['metrics/baseline.json', 'metrics/post-rollout.json', 'metrics/completeness.json', 'metrics/per-epoch.json', 'metrics/mttr-delta.json', 'state.json'];

export interface Snapshot {
  outputs: Record<string, unknown>;
  totals: AggregateResult['totals'];
}

export async function readOutputs(root: string): Promise<Record<string, unknown>> {
  const outputs: Record<string, unknown> = {};
  for (const f of OUTPUT_FILES) {
    const text = await readFile(join(root, f), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const json = JSON.parse(text) as Record<string, unknown>;
    delete json['updated_at'];
    outputs[f] = json;
  }
  return outputs;
}

/** Aggregate (API), then what it wrote. */
export async function aggregateSnapshot(options: StoreOptions, rebuild = false): Promise<Snapshot & { mode: string }> {
  const r = await aggregate({ ...options, rebuild });
  return { mode: r.mode, outputs: await readOutputs(options.dir!), totals: r.totals };
}

/** The history must be rich enough that equality means something. */
export function expectNonTrivial(s: Snapshot): void {
  expect(Object.keys(s.outputs)).to.have.members(OUTPUT_FILES);
  expect(s.totals.runs).to.be.greaterThan(10);
  expect(s.totals.duplicates).to.be.greaterThan(0);
  expect(s.totals.invalid).to.be.greaterThan(0);
  expect(s.totals.malformed).to.be.greaterThan(0);
}

export function expectSameAggregates(actual: Snapshot, expected: Snapshot): void {
  expect(actual.outputs).to.deep.equal(expected.outputs);
  expect(actual.totals).to.deep.equal(expected.totals);
}

/** Every file under the root with its size, to prove that nothing changed. */
export async function listing(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path);
      else out.push(`${path} ${(await lstat(join(root, path))).size}`);
    }
  };
  await walk('');
  return out.sort();
}
