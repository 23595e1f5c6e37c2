/**
 * The benchmark: `npm run bench` (full: 10k, 100k, 1M entries) or
 * `npm run bench -- --quick` (small sizes, seconds; what CI runs).
 *
 * For each history size, with and without rotation, it measures a full
 * rebuild against a bare JSON Lines baseline, the per-run cost (append one
 * entry + incremental aggregate) through the API and the CLI, and the peak
 * RSS of a rebuild; then append throughput (single, batched, rotating, four
 * concurrent writer processes), sealing and retention. Every figure is the
 * median of several runs with min and max; results go to
 * bench/results/latest.json, and (full runs) bench/results/README-table.md.
 *
 * Exit status: 0 when everything completed and no entry was lost or
 * miscounted; 1 otherwise. Targets are reported, not asserted.
 *
 * Then retention of an aggregated store against the same retention of a
 * never-aggregated copy (10k, 100k, 1M), with the latency of a
 * `record --aggregate` that arrives during it; and (full runs) per-run cost
 * and `segments` at 5M entries (620 segments) against 10k.
 *
 * Options: --quick, --sizes 10000,100000, --reps N,
 * --only rebuild,append,seal,retention,scale,startup, --scale N (entries of the large
 * store in the scale rows; 0: skip), --keep (leave the temp histories),
 * BENCH_TMP=DIR (where histories go).
 */
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { aggregate } from '../lib/aggregate/aggregator.js';
import { createLogger } from '../lib/log.js';
import { Recorder } from '../lib/store/recorder.js';
import { storePaths } from '../lib/store/names.js';
import { retention } from '../lib/retention/retention.js';
import { archiveReport, benchArchive, type ArchiveBench } from './archive.js';
import type { ChildResult } from './child.js';
import { EntrySource, generateHistory, replicateSegments, storeFiles, type GenStats } from './generate.js';
import { benchStartup, type StartupResult } from './startup.js';
import { fmt, fmtSummary, humanCount, mapSummary, markdownTable, summarize, type Summary } from './stats.js';
import { BIN, run, runNode, time, type Proc } from './proc.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CHILD = join(HERE, 'child.js');
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const MiB = 1 << 20;
const SEGMENT_BYTES = 10 * MiB;
const MB = 1e6;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    sizes: { type: 'string' },
    reps: { type: 'string' },
    only: { type: 'string' },
    keep: { type: 'boolean' },
    scale: { type: 'string' },
  },
});
const QUICK = args.quick === true;
const SIZES = args.sizes ? args.sizes.split(',').map(Number) : QUICK ? [2000, 20_000] : [10_000, 100_000, 1_000_000];
const REPS = Math.max(1, Number(args.reps ?? (QUICK ? 3 : 5)));
const ONLY = new Set((args.only ?? 'rebuild,append,seal,retention,scale,archive,startup').split(','));
const RETENTION_SIZES = args.sizes ? SIZES : QUICK ? [2000, 20_000] : [10_000, 100_000, 1_000_000];
/** Segment size of the retention rows: enough segments at every size to keep half of them. */
const RETENTION_SEGMENT_BYTES = QUICK ? 256 << 10 : MiB;
/** Entries of the large store of the scale rows (full runs: 5M, ~620 segments of 10 MiB). */
const SCALE_ENTRIES = Number(args.scale ?? (QUICK ? 0 : 5_000_000));
const log = createLogger('silent');

/** Anything that means the harness itself failed or lost data: reported, then exit 1. */
const failures: string[] = [];
function check(ok: boolean, what: string): void {
  if (!ok) {
    failures.push(what);
    process.stderr.write(`bench: FAILED: ${what}\n`);
  }
}

function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

async function runChild(argv: string[], env: NodeJS.ProcessEnv = {}, nodeFlags: string[] = []): Promise<ChildResult> {
  const p = await runNode([...nodeFlags, CHILD, ...argv], { env });
  if (p.code !== 0) throw new Error(`child ${argv.join(' ')} exited ${p.code}: ${p.stderr.trim()}`);
  return JSON.parse(p.stdout) as ChildResult;
}


// ---------------------------------------------------------------- rebuild, per run, RSS

interface SizeResult {
  entries: number;
  layout: 'single file' | 'rotated 10 MiB';
  segments: number;
  bytes: number;
  baselineMs: Summary;
  /** The store's own reader with only JSON.parse behind it. */
  parseMs: Summary;
  rebuildMs: Summary;
  baselineMBps: Summary;
  parseMBps: Summary;
  rebuildMBps: Summary;
  rebuildEntriesPerS: Summary;
  /** Rebuild throughput over baseline throughput, medians. */
  ratio: number;
  /** Rebuild throughput over parse-only throughput through the same reader: what aggregating costs. */
  ratioToParse: number;
  /**
   * Rebuild over baseline throughput with both warm (each done twice in its process, the
   * second measured): what is left of the ratio without a fresh process's JIT warm-up.
   * Sizes up to WARM_MAX only.
   */
  warmRatio: number | undefined;
  /** The same ratios by CPU time (user + system): steadier when other work shares the machine. */
  cpuRatio: number;
  cpuRatioToParse: number;
  baselineCpuMs: Summary;
  parseCpuMs: Summary;
  rebuildCpuMs: Summary;
  baselineRssMB: Summary;
  rebuildRssMB: Summary;
  /** The same with V8's young generation capped (SEMI_FLAG): the store's own memory, without V8's heap sizing. */
  baselineRssCappedMB: Summary | undefined;
  rebuildRssCappedMB: Summary | undefined;
  perRunApiMs: Summary;
  perRunCliMs: Summary;
}

/**
 * Append one entry and aggregate, through the API, in a child process of its
 * own: the cost an orchestrator's process pays, without this harness's heap
 * (a million generated entries of garbage) in the way.
 */
async function perRunApi(dir: string, seed: number, reps: number, maxBytes: number): Promise<Summary> {
  const r = await runChild(['perrun', dir, String(reps), String(seed)], maxBytes ? { BENCH_MAX_BYTES: String(maxBytes) } : {});
  const times = r['times'] as number[];
  check(Array.isArray(times) && times.length === reps, `per-run API at ${dir}: ${JSON.stringify(r)}`);
  return summarize(times);
}

async function perRunCli(dir: string, source: EntrySource, reps: number, maxBytes: number): Promise<Summary> {
  const env = { CODEX_METRICS_LOG_LEVEL: undefined, ...(maxBytes ? { CODEX_METRICS_MAX_BYTES: String(maxBytes) } : {}) };
  const times: number[] = [];
  for (let i = 0; i < reps + 1; i++) {
    const p = await runNode([BIN, 'record', '--aggregate', '--json', '--dir', dir], { input: `${JSON.stringify(source.nextEntry())}\n`, env });
    let ok = p.code === 0;
    if (ok) {
      const out = JSON.parse(p.stdout) as { recorded: number; aggregate: { mode: string; linesRead: number } };
      ok = out.recorded === 1 && out.aggregate.mode === 'incremental' && out.aggregate.linesRead === 1;
    }
    check(ok, `per-run CLI at ${dir}: exit ${p.code}, ${p.stdout.trim()} ${p.stderr.trim()}`);
    if (i >= 1) times.push(p.ms);
  }
  return summarize(times);
}

/** Largest history whose rebuild and baseline are also measured warm. */
const WARM_MAX = 100_000;

/** Caps the young generation, which V8 grows with allocation volume whatever the program keeps. */
const SEMI_FLAG = '--max-semi-space-size=2';
const rssMB = (c: ChildResult) => (c.maxRssKb * 1024) / MB;

async function benchLayout(dir: string, entries: number, layout: SizeResult['layout'], gen: GenStats, segments: number, maxBytes: number): Promise<SizeResult> {
  const baseline: ChildResult[] = [];
  const parse: ChildResult[] = [];
  const rebuild: ChildResult[] = [];
  const cappedBaseline: ChildResult[] = [];
  const cappedRebuild: ChildResult[] = [];
  const warmBaseline: ChildResult[] = [];
  const warmRebuild: ChildResult[] = [];
  const checkRebuild = (r: ChildResult) =>
    check(
      r['linesRead'] === gen.lines && r['totalRuns'] === gen.runs && r['duplicates'] === gen.duplicates && r['invalid'] === gen.invalid,
      `rebuild at ${dir} counted ${JSON.stringify(r)}, expected ${JSON.stringify(gen)}`,
    );
  // Interleaved, so a slow spell on a shared machine hits all alike.
  for (let i = 0; i < REPS; i++) {
    const b = await runChild(['baseline', dir]);
    check(b['lines'] === gen.lines, `baseline at ${dir} read ${b['lines']} lines, expected ${gen.lines}`);
    baseline.push(b);
    const p = await runChild(['parse', dir]);
    check(p['lines'] === gen.lines, `parse at ${dir} read ${p['lines']} lines, expected ${gen.lines}`);
    parse.push(p);
    const r = await runChild(['rebuild', dir]);
    checkRebuild(r);
    rebuild.push(r);
    if (entries <= WARM_MAX) {
      warmBaseline.push(await runChild(['baseline', dir], { BENCH_WARMUP: '1' }));
      const w = await runChild(['rebuild', dir], { BENCH_WARMUP: '1' });
      checkRebuild(w);
      warmRebuild.push(w);
    }
    if (!QUICK) {
      cappedBaseline.push(await runChild(['baseline', dir], {}, [SEMI_FLAG]));
      const c = await runChild(['rebuild', dir], {}, [SEMI_FLAG]);
      checkRebuild(c);
      cappedRebuild.push(c);
    }
  }
  const perRunApiMs = await perRunApi(dir, 2 + entries, QUICK ? 10 : 20, maxBytes);
  const perRunCliMs = await perRunCli(dir, new EntrySource(3 + entries, 0), QUICK ? 3 : 7, maxBytes);
  const baselineMs = summarize(baseline.map((c) => c.ms));
  const parseMs = summarize(parse.map((c) => c.ms));
  const rebuildMs = summarize(rebuild.map((c) => c.ms));
  const cpu = (xs: ChildResult[]) => summarize(xs.map((c) => c.cpuMs));
  const [baselineCpuMs, parseCpuMs, rebuildCpuMs] = [cpu(baseline), cpu(parse), cpu(rebuild)];
  const mbps = (ms: number) => gen.bytes / MB / (ms / 1000);
  return {
    entries,
    layout,
    segments,
    bytes: gen.bytes,
    baselineMs,
    parseMs,
    rebuildMs,
    baselineMBps: mapSummary(baselineMs, mbps),
    parseMBps: mapSummary(parseMs, mbps),
    rebuildMBps: mapSummary(rebuildMs, mbps),
    rebuildEntriesPerS: mapSummary(rebuildMs, (ms) => gen.lines / (ms / 1000)),
    ratio: baselineMs.median / rebuildMs.median,
    warmRatio: warmRebuild.length ? summarize(warmBaseline.map((c) => c.ms)).median / summarize(warmRebuild.map((c) => c.ms)).median : undefined,
    ratioToParse: parseMs.median / rebuildMs.median,
    cpuRatio: baselineCpuMs.median / rebuildCpuMs.median,
    cpuRatioToParse: parseCpuMs.median / rebuildCpuMs.median,
    baselineCpuMs,
    parseCpuMs,
    rebuildCpuMs,
    baselineRssMB: summarize(baseline.map(rssMB)),
    rebuildRssMB: summarize(rebuild.map(rssMB)),
    baselineRssCappedMB: cappedBaseline.length ? summarize(cappedBaseline.map(rssMB)) : undefined,
    rebuildRssCappedMB: cappedRebuild.length ? summarize(cappedRebuild.map(rssMB)) : undefined,
    perRunApiMs,
    perRunCliMs,
  };
}

/** A CLI process that does nothing but start: the floor under any per-run cost through the CLI. */
async function cliFloor(): Promise<Summary> {
  const times: number[] = [];
  for (let i = 0; i < REPS + 1; i++) {
    const p = await runNode([BIN, '--help']);
    check(p.code === 0, `codex-metrics --help exited ${p.code}`);
    if (i > 0) times.push(p.ms);
  }
  return summarize(times);
}

async function benchSizes(root: string): Promise<SizeResult[]> {
  const out: SizeResult[] = [];
  for (const entries of SIZES) {
    const dirs = { single: join(root, `h${entries}-single`), rotated: join(root, `h${entries}-rotated`) };
    const g = await time(() =>
      generateHistory({ entries, seed: 1, targets: [{ dir: dirs.single, segmentBytes: 0 }, { dir: dirs.rotated, segmentBytes: SEGMENT_BYTES }] }),
    );
    progress(`generated ${humanCount(entries)} entries (${fmt(g.value.stats.bytes / MB)} MB, ${g.value.segments[1]} segments when rotated) in ${fmt(g.ms / 1000)} s`);
    for (const [layout, dir, segments, maxBytes] of [
      ['single file', dirs.single, 0, 0],
      ['rotated 10 MiB', dirs.rotated, g.value.segments[1]!, SEGMENT_BYTES],
    ] as const) {
      const r = await benchLayout(dir, entries, layout, g.value.stats, segments, maxBytes);
      progress(`${humanCount(entries)} ${layout}: rebuild ${fmt(r.rebuildMBps.median)} MB/s vs baseline ${fmt(r.baselineMBps.median)} MB/s (${fmt(r.ratio)}), reader+parse ${fmt(r.parseMBps.median)} MB/s, per run ${fmt(r.perRunApiMs.median)} ms API / ${fmt(r.perRunCliMs.median)} ms CLI, rebuild RSS ${fmt(r.rebuildRssMB.median)} MB`);
      out.push(r);
    }
    if (!args.keep) await Promise.all(Object.values(dirs).map((d) => rm(d, { recursive: true, force: true })));
  }
  return out;
}

/**
 * Per-run cost against the size of the aggregate rather than of the history:
 * per-epoch.json and the checkpoint hold a record per epoch (and tool) and are
 * rewritten on every run. The size rows all have 20 epochs; this one has 200.
 */
interface EpochsResult {
  entries: number;
  epochs: number;
  perRunApiMs: Summary;
  perRunCliMs: Summary;
}

const MANY_EPOCHS = 200;

async function benchEpochs(root: string): Promise<EpochsResult> {
  const entries = SIZES[0]!;
  const dir = join(root, 'epochs');
  await generateHistory({ entries, seed: 3, epochs: MANY_EPOCHS, targets: [{ dir, segmentBytes: 0 }] });
  const r = await runChild(['rebuild', dir]);
  check(r['mode'] === 'rebuild', `epochs: rebuild reported ${String(r['mode'])}`);

  const out = {
    entries,
    epochs: MANY_EPOCHS,
    perRunApiMs: await perRunApi(dir, 5, QUICK ? 10 : 20, 0),
    perRunCliMs: await perRunCli(dir, new EntrySource(6, 0), QUICK ? 3 : 7, 0),
  };
  progress(`${humanCount(entries)} entries over ${MANY_EPOCHS} epochs: per run ${fmt(out.perRunApiMs.median)} ms API / ${fmt(out.perRunCliMs.median)} ms CLI`);
  await rm(dir, { recursive: true, force: true });
  return out;
}

// ---------------------------------------------------------------- append throughput

interface AppendResult {
  mode: string;
  entries: number;
  entriesPerS: Summary;
  sealed: number;
  lost: number;
  duplicated: number;
}

/** How many times each run_id with `prefix` is in the store (segments, active file, pending). */
async function countRunIds(dir: string, prefix: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const files = await storeFiles(dir);
  const pending = storePaths(dir).pending;
  for (const f of await readdir(pending).catch(() => [] as string[])) files.push(join(pending, f));
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.includes(prefix)) continue;
      const id = (JSON.parse(line) as { run_id: string }).run_id;
      if (id.startsWith(prefix)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

function lossOf(counts: Map<string, number>, expected: string[]): { lost: number; duplicated: number } {
  let lost = 0;
  let duplicated = 0;
  for (const id of expected) {
    const n = counts.get(id) ?? 0;
    if (n === 0) lost++;
    if (n > 1) duplicated += n - 1;
  }
  return { lost, duplicated };
}

async function appendInProcess(root: string, mode: string, total: number, batch: number, maxBytes: number): Promise<AppendResult> {
  const rates: number[] = [];
  let sealed = 0;
  let lost = 0;
  let duplicated = 0;
  for (let rep = 0; rep < REPS; rep++) {
    const dir = join(root, `append-${mode.replace(/\W+/g, '-')}-${rep}`);
    const recorder = await Recorder.open({ dir, log, ...(maxBytes ? { maxBytes } : {}) });
    const source = new EntrySource(1000 + rep, 0);
    const prefix = `a${rep}-`;
    const batches: Record<string, unknown>[][] = [];
    for (let i = 0; i < total; i += batch) {
      batches.push(Array.from({ length: Math.min(batch, total - i) }, (_, k) => ({ ...source.nextEntry(), run_id: `${prefix}${i + k}` })));
    }
    let seals = 0;
    const { ms } = await time(async () => {
      for (const b of batches) seals += (await recorder.append(batch === 1 ? b[0]! : b)).sealed.length;
    });
    rates.push(total / (ms / 1000));
    sealed = seals;
    const loss = lossOf(await countRunIds(dir, prefix), Array.from({ length: total }, (_, i) => `${prefix}${i}`));
    lost += loss.lost;
    duplicated += loss.duplicated;
    await rm(dir, { recursive: true, force: true });
  }
  return { mode, entries: total, entriesPerS: summarize(rates), sealed, lost, duplicated };
}

async function appendConcurrent(root: string, writers: number, perWriter: number, maxBytes: number): Promise<AppendResult> {
  const rates: number[] = [];
  let lost = 0;
  let duplicated = 0;
  let sealed = 0;
  for (let rep = 0; rep < REPS; rep++) {
    const dir = join(root, `append-concurrent-${rep}`);
    await mkdir(dir, { recursive: true });
    const startAt = Date.now() + 400;
    const prefixes = Array.from({ length: writers }, (_, w) => `c${rep}w${w}`);
    const results = await Promise.all(
      prefixes.map((p) => runChild(['append', dir, String(perWriter), p], { BENCH_START_AT: String(startAt), BENCH_MAX_BYTES: String(maxBytes) })),
    );
    const t0 = Math.min(...results.map((r) => r.startedAt));
    const t1 = Math.max(...results.map((r) => r.endedAt));
    rates.push((writers * perWriter) / (Math.max(1, t1 - t0) / 1000));
    // Whatever was spilled is merged by the next lock holder: be that holder.
    const recorder = await Recorder.open({ dir, log, maxBytes });
    await recorder.append([]);
    const pendingLeft = (await readdir(storePaths(dir).pending).catch(() => [] as string[])).length;
    check(pendingLeft === 0, `concurrent append: ${pendingLeft} pending files left after a merge`);
    sealed = (await readdir(storePaths(dir).segments)).filter((f) => f.startsWith('metrics-')).length;
    const expected = prefixes.flatMap((p) => Array.from({ length: perWriter }, (_, i) => `${p}-${i}`));
    const loss = lossOf(await countRunIds(dir, `c${rep}w`), expected);
    lost += loss.lost;
    duplicated += loss.duplicated;
    await rm(dir, { recursive: true, force: true });
  }
  return { mode: `${writers} writer processes, 1 per call, rotating at ${fmt(maxBytes / MiB)} MiB`, entries: writers * perWriter, entriesPerS: summarize(rates), sealed, lost, duplicated };
}

async function benchAppend(root: string): Promise<AppendResult[]> {
  const single = QUICK ? 300 : 2000;
  const batched = QUICK ? 10_000 : 100_000;
  const out = [
    await appendInProcess(root, 'in process, 1 per call', single, 1, 0),
    await appendInProcess(root, 'in process, batches of 1000', batched, 1000, 0),
    await appendInProcess(root, 'in process, batches of 1000, rotating at 10 MiB', batched, 1000, SEGMENT_BYTES),
    await appendInProcess(root, 'in process, 1 per call, rotating at 64 KiB', single, 1, 64 * 1024),
    await appendConcurrent(root, 4, QUICK ? 100 : 1000, MiB),
  ];
  for (const r of out) {
    progress(`append ${r.mode}: ${fmt(r.entriesPerS.median)} entries/s, lost ${r.lost}, duplicated ${r.duplicated}`);
    check(r.lost === 0 && r.duplicated === 0, `append ${r.mode}: lost ${r.lost}, duplicated ${r.duplicated}`);
  }
  return out;
}

// ---------------------------------------------------------------- sealing and retention

interface SealResult {
  sealMs: Summary;
  sealBytes: number;
  retentionMs: Summary;
  retentionSegments: number;
  retentionBytes: number;
}

async function benchSeal(root: string): Promise<SealResult> {
  // Entries to fill one segment, from the generator's own average size.
  const probe = new EntrySource(7);
  for (let i = 0; i < 2000; i++) probe.nextLine();
  const avg = probe.stats.bytes / probe.stats.lines;

  const sealMs: number[] = [];
  let sealBytes = 0;
  for (let rep = 0; rep < REPS; rep++) {
    const dir = join(root, `seal-${rep}`);
    const g = await generateHistory({ entries: Math.floor((SEGMENT_BYTES - 4096) / avg), seed: 10 + rep, targets: [{ dir, segmentBytes: 0 }] });
    sealBytes = g.stats.bytes;
    const recorder = await Recorder.open({ dir, log });
    const { ms, value } = await time(() => recorder.rotate());
    check(value.sealed?.bytes === g.stats.bytes, `seal: sealed ${value.sealed?.bytes} bytes, expected ${g.stats.bytes}`);
    sealMs.push(ms);
    await rm(dir, { recursive: true, force: true });
  }

  const segBytes = QUICK ? 64 * 1024 : MiB;
  const retentionMs: number[] = [];
  let retentionSegments = 0;
  let retentionBytes = 0;
  for (let rep = 0; rep < REPS; rep++) {
    const dir = join(root, `retention-${rep}`);
    const g = await generateHistory({ entries: Math.round((100.5 * segBytes) / avg), seed: 20 + rep, targets: [{ dir, segmentBytes: segBytes }] });
    retentionSegments = g.segments[0]!;
    retentionBytes = g.stats.bytes;
    const before = await aggregate({ dir, log });
    const { ms, value } = await time(() => retention({ dir, log, retention: { maxSegments: 0 } }));
    check(value.deleted.length === retentionSegments, `retention deleted ${value.deleted.length} of ${retentionSegments} segments`);
    const after = await aggregate({ dir, log, rebuild: true });
    check(after.totalRuns === before.totalRuns && after.totals.duplicates === before.totals.duplicates, `retention changed the aggregate: ${before.totalRuns} runs before, ${after.totalRuns} after`);
    retentionMs.push(ms);
    await rm(dir, { recursive: true, force: true });
  }
  const r = { sealMs: summarize(sealMs), sealBytes, retentionMs: summarize(retentionMs), retentionSegments, retentionBytes };
  progress(`seal ${fmt(sealBytes / MB)} MB: ${fmt(r.sealMs.median)} ms; retention over ${retentionSegments} segments: ${fmt(r.retentionMs.median)} ms`);
  return r;
}

// ---------------------------------------------------------------- retention of an aggregated store

interface RetentionRow {
  entries: number;
  segments: number;
  deleted: number;
  /** Retention in a fresh process on the aggregated store, and on a never-aggregated copy of it. */
  aggregatedMs: Summary;
  plainMs: Summary;
  ratio: number;
  /** The same by CPU time (user + system): steadier when other work shares the machine. */
  cpuRatio: number;
  /** A `record --aggregate` started while the retention holds the aggregate lock, and one after. */
  recordDuringMs: number;
  recordIdleMs: number;
  retentionWithRecordMs: number;
}

/** A copy of a store for a destructive run: segments and the active file hard-linked (never rewritten), metrics/ copied. */
async function cloneStore(from: string, to: string): Promise<void> {
  const link = await run('cp', ['-al', from, to], { stdout: 'ignore' });
  if (link.code !== 0) throw new Error(`cp -al ${from} ${to}: ${link.stderr}`);
  // The run-id index is appended to, and the outputs replaced: those are copied.
  const metrics = join(to, 'metrics');
  if (!(await readdir(metrics).then(() => true, () => false))) return void (await run('sync', ['-f', to], { stdout: 'ignore' }));
  await rm(metrics, { recursive: true, force: true });
  const copy = await run('cp', ['-a', join(from, 'metrics'), metrics], { stdout: 'ignore' });
  if (copy.code !== 0) throw new Error(`cp -a ${join(from, 'metrics')}: ${copy.stderr}`);
  // Written back now, not by the first fsync of the run measured (which, on ext4, waits for every dirty page).
  await run('sync', ['-f', to], { stdout: 'ignore' });
}


async function recordAggregate(dir: string, source: EntrySource): Promise<Proc> {
  const p = await runNode([BIN, 'record', '--aggregate', '--json', '--dir', dir], { input: `${JSON.stringify(source.nextEntry())}\n`, env: { CODEX_METRICS_LOG_LEVEL: undefined } });
  let recorded = 0;
  try {
    recorded = (JSON.parse(p.stdout) as { recorded: number }).recorded;
  } catch {
    // reported below
  }
  check(p.code === 0 && recorded === 1, `record --aggregate at ${dir}: exit ${p.code}, ${p.stdout.trim()} ${p.stderr.trim()}`);
  return p;
}

async function benchRetention(root: string): Promise<RetentionRow[]> {
  const out: RetentionRow[] = [];
  for (const entries of RETENTION_SIZES) {
    const master = { aggregated: join(root, `ret${entries}-aggregated`), plain: join(root, `ret${entries}-plain`) };
    const g = await generateHistory({ entries, seed: 30, targets: [{ dir: master.aggregated, segmentBytes: RETENTION_SEGMENT_BYTES }, { dir: master.plain, segmentBytes: RETENTION_SEGMENT_BYTES }] });
    const agg = await runChild(['rebuild', master.aggregated]);
    check(agg['totalRuns'] === g.stats.runs, `retention: aggregate of ${master.aggregated} counted ${JSON.stringify(agg)}`);
    const segments = g.segments[0]!;
    const keep = Math.floor(segments / 2);
    const times = { aggregated: [] as number[], plain: [] as number[] };
    const cpu = { aggregated: [] as number[], plain: [] as number[] };
    const reps = entries >= 1_000_000 ? Math.min(REPS, 3) : REPS;
    for (let rep = 0; rep < reps; rep++) {
      // Alternating which goes first, so a slow spell or a warm cache favours neither.
      const kinds = rep % 2 ? (['aggregated', 'plain'] as const) : (['plain', 'aggregated'] as const);
      for (const kind of kinds) {
        const dir = join(root, `ret-${kind}-${rep}`);
        await cloneStore(master[kind], dir);
        const c = await runChild(['retention', dir, String(keep)]);
        check(c['deleted'] === segments - keep, `retention of ${kind} ${humanCount(entries)} deleted ${String(c['deleted'])} of ${segments - keep}`);
        times[kind].push(c.ms);
        cpu[kind].push(c.cpuMs);
        if (rep === 0 && kind === 'aggregated') {
          // Retention never changes an aggregate: a rebuild from the base and what is left counts the same.
          const after = await runChild(['rebuild', dir]);
          check(after['totalRuns'] === g.stats.runs, `after retention of ${humanCount(entries)}: ${after['totalRuns']} runs, expected ${g.stats.runs}`);
        }
        await rm(dir, { recursive: true, force: true });
      }
    }
    // A record --aggregate arriving while retention holds the aggregate lock.
    const dir = join(root, 'ret-during');
    await cloneStore(master.aggregated, dir);
    const source = new EntrySource(31 + entries, 0);
    const lockFile = join(dir, 'metrics', 'aggregate.lock');
    const t0 = performance.now();
    const running = runChild(['retention', dir, String(keep)]);
    let finished = false;
    void running.finally(() => (finished = true)).catch(() => undefined);
    while (!finished && !(await readFile(lockFile).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 1));
    const during = await recordAggregate(dir, source);
    await running;
    const retentionWithRecordMs = performance.now() - t0;
    const idle = await recordAggregate(dir, source);
    await rm(dir, { recursive: true, force: true });
    const row: RetentionRow = {
      entries,
      segments,
      deleted: segments - keep,
      aggregatedMs: summarize(times.aggregated),
      plainMs: summarize(times.plain),
      ratio: summarize(times.aggregated).median / summarize(times.plain).median,
      cpuRatio: summarize(cpu.aggregated).median / summarize(cpu.plain).median,
      recordDuringMs: during.ms,
      recordIdleMs: idle.ms,
      retentionWithRecordMs,
    };
    progress(`retention ${humanCount(entries)} (${row.deleted} of ${segments} segments): aggregated ${fmt(row.aggregatedMs.median)} ms vs never aggregated ${fmt(row.plainMs.median)} ms (${fmt(row.ratio)}, by CPU ${fmt(row.cpuRatio)}); record --aggregate during it ${fmt(row.recordDuringMs)} ms, after ${fmt(row.recordIdleMs)} ms`);
    out.push(row);
    if (!args.keep) await Promise.all(Object.values(master).map((d) => rm(d, { recursive: true, force: true })));
  }
  return out;
}

// ---------------------------------------------------------------- per run and segments at 5M entries

interface ScaleResult {
  small: { entries: number; segments: number };
  large: { entries: number; segments: number };
  perRunSmallMs: Summary;
  perRunLargeMs: Summary;
  /** The same runs by CPU time (user + system): steadier when other work shares the machine. */
  perRunSmallCpuMs: Summary;
  perRunLargeCpuMs: Summary;
  /** `segments --json` in a fresh process, without Node's start-up: wall and CPU time. */
  segmentsSmallMs: Summary;
  segmentsLargeMs: Summary;
  segmentsSmallCpuMs: Summary;
  segmentsLargeCpuMs: Summary;
  generateS: number;
}

async function segmentsChild(dir: string, expect: number): Promise<ChildResult> {
  const c = await runChild(['segments', dir]);
  check(c['code'] === 0 && c['segments'] === expect, `segments at ${dir}: ${JSON.stringify(c)}, expected ${expect} segments`);
  return c;
}

async function benchScale(root: string): Promise<ScaleResult> {
  const small = join(root, 'scale-small');
  const large = join(root, 'scale-large');
  const smallEntries = 10_000;
  const gs = await generateHistory({ entries: smallEntries, seed: 40, targets: [{ dir: small, segmentBytes: SEGMENT_BYTES }] });
  // The large store: a fifth (or less) generated, its sealed segments replicated with new run_ids.
  const t0 = performance.now();
  const block = Math.min(SCALE_ENTRIES, 1_000_000);
  const times = Math.max(1, Math.round(SCALE_ENTRIES / block));
  const gl = await generateHistory({ entries: block, seed: 41, targets: [{ dir: large, segmentBytes: SEGMENT_BYTES }] });
  const added = await replicateSegments(large, times);
  const largeLines = gl.stats.lines + added;
  const largeSegments = gl.segments[0]! * times;
  const generateS = (performance.now() - t0) / 1000;
  progress(`scale: generated ${humanCount(largeLines)} lines in ${largeSegments} segments in ${fmt(generateS)} s`);
  for (const [dir, lines] of [[small, gs.stats.lines], [large, largeLines]] as const) {
    const r = await runChild(['rebuild', dir]);
    check(r['linesRead'] === lines, `scale: rebuild of ${dir} read ${String(r['linesRead'])} lines, expected ${lines}`);
  }
  // Interleaved rounds, so a slow spell on a shared machine hits both alike.
  const perRun = { small: [] as number[], large: [] as number[] };
  const perRunCpu = { small: [] as number[], large: [] as number[] };
  const seg = { small: [] as ChildResult[], large: [] as ChildResult[] };
  const rounds = 5;
  for (let i = 0; i < rounds; i++) {
    for (const [key, dir, segments] of [['small', small, gs.segments[0]!], ['large', large, largeSegments]] as const) {
      const r = await runChild(['perrun', dir, '20', String(50 + i)], { BENCH_MAX_BYTES: String(SEGMENT_BYTES) });
      perRun[key].push(...(r['times'] as number[]));
      perRunCpu[key].push(...(r['cpuTimes'] as number[]));
      seg[key].push(await segmentsChild(dir, segments + 1));
    }
  }
  if (!args.keep) await Promise.all([small, large].map((d) => rm(d, { recursive: true, force: true })));
  const r: ScaleResult = {
    small: { entries: smallEntries, segments: gs.segments[0]! },
    large: { entries: largeLines, segments: largeSegments },
    perRunSmallMs: summarize(perRun.small),
    perRunLargeMs: summarize(perRun.large),
    perRunSmallCpuMs: summarize(perRunCpu.small),
    perRunLargeCpuMs: summarize(perRunCpu.large),
    segmentsSmallMs: summarize(seg.small.map((c) => c.ms)),
    segmentsLargeMs: summarize(seg.large.map((c) => c.ms)),
    segmentsSmallCpuMs: summarize(seg.small.map((c) => c.cpuMs)),
    segmentsLargeCpuMs: summarize(seg.large.map((c) => c.cpuMs)),
    generateS,
  };
  progress(`scale: per run ${fmt(r.perRunLargeMs.median)} ms (CPU ${fmt(r.perRunLargeCpuMs.median)}) at ${humanCount(largeLines)} vs ${fmt(r.perRunSmallMs.median)} ms (CPU ${fmt(r.perRunSmallCpuMs.median)}) at 10k; segments ${fmt(r.segmentsLargeMs.median)} vs ${fmt(r.segmentsSmallMs.median)} ms`);
  return r;
}

// ---------------------------------------------------------------- report

interface Target {
  target: string;
  measured: string;
  holds: boolean;
}

function targets(sizes: SizeResult[], ret: RetentionRow[], scale: ScaleResult | undefined): Target[] {
  const out: Target[] = [];
  for (const r of ret) {
    out.push({ target: `retention of an aggregated store ≤ 1.5 × of a never-aggregated copy (${humanCount(r.entries)})`, measured: `${fmt(r.ratio)} × (${fmt(r.aggregatedMs.median)} vs ${fmt(r.plainMs.median)} ms); by CPU time ${fmt(r.cpuRatio)} ×`, holds: r.ratio <= 1.5 });
  }
  if (scale) {
    const perRun = scale.perRunLargeMs.median / scale.perRunSmallMs.median;
    const perRunCpu = scale.perRunLargeCpuMs.median / scale.perRunSmallCpuMs.median;
    out.push({
      target: `per run (API) at ${humanCount(scale.large.entries)} (${scale.large.segments} segments) ≤ 1.1 × at 10k`,
      measured: `${fmt(perRun)} × (${fmt(scale.perRunLargeMs.median)} vs ${fmt(scale.perRunSmallMs.median)} ms); by CPU time ${fmt(perRunCpu)} ×`,
      holds: perRun <= 1.1,
    });
    const more = scale.segmentsLargeMs.median - scale.segmentsSmallMs.median;
    const moreCpu = scale.segmentsLargeCpuMs.median - scale.segmentsSmallCpuMs.median;
    out.push({
      target: `\`segments\` at ${scale.large.segments} segments ≤ 20 ms more than at ${scale.small.segments}`,
      measured: `+${fmt(more)} ms (${fmt(scale.segmentsLargeMs.median)} vs ${fmt(scale.segmentsSmallMs.median)} ms); by CPU time +${fmt(moreCpu)} ms`,
      holds: more <= 20,
    });
  }
  if (sizes.length === 0) return out;
  for (const r of sizes) {
    out.push({ target: `rebuild ≥ 0.85 × baseline (${humanCount(r.entries)}, ${r.layout})`, measured: `${fmt(r.ratio)} ×${r.warmRatio !== undefined ? ` (both warm: ${fmt(r.warmRatio)} ×)` : ''}`, holds: r.ratio >= 0.85 });
  }
  const small = Math.min(...sizes.map((r) => r.entries));
  const large = Math.max(...sizes.map((r) => r.entries));
  if (small === large) return out;
  for (const layout of ['single file', 'rotated 10 MiB'] as const) {
    const a = sizes.find((r) => r.entries === small && r.layout === layout)!;
    const b = sizes.find((r) => r.entries === large && r.layout === layout)!;
    const api = b.perRunApiMs.median / a.perRunApiMs.median;
    const cli = b.perRunCliMs.median / a.perRunCliMs.median;
    out.push({ target: `per run (API) at ${humanCount(large)} ≤ 1.5 × at ${humanCount(small)} (${layout})`, measured: `${fmt(api)} × (${fmt(b.perRunApiMs.median)} vs ${fmt(a.perRunApiMs.median)} ms)`, holds: api <= 1.5 });
    out.push({ target: `per run (CLI) at ${humanCount(large)} ≤ 1.5 × at ${humanCount(small)} (${layout})`, measured: `${fmt(cli)} × (${fmt(b.perRunCliMs.median)} vs ${fmt(a.perRunCliMs.median)} ms)`, holds: cli <= 1.5 });
    const cheaper = b.rebuildMs.median / b.perRunApiMs.median;
    out.push({ target: `per run (API) ≥ 1000 × cheaper than a rebuild at ${humanCount(large)} (${layout})`, measured: `${fmt(cheaper)} ×`, holds: cheaper >= 1000 });
    const cheaperCli = b.rebuildMs.median / b.perRunCliMs.median;
    out.push({ target: `per run (CLI) ≥ 1000 × cheaper than a rebuild at ${humanCount(large)} (${layout})`, measured: `${fmt(cheaperCli)} ×`, holds: cheaperCli >= 1000 });
    const rss = b.rebuildRssMB.median / a.rebuildRssMB.median;
    const base = b.baselineRssMB.median / a.baselineRssMB.median;
    out.push({ target: `rebuild peak RSS at ${humanCount(large)} ≤ 1.3 × at ${humanCount(small)} (${layout})`, measured: `${fmt(rss)} × (${fmt(b.rebuildRssMB.median)} vs ${fmt(a.rebuildRssMB.median)} MB; bare baseline ${fmt(base)} ×)`, holds: rss <= 1.3 });
    if (a.rebuildRssCappedMB && b.rebuildRssCappedMB) {
      const capped = b.rebuildRssCappedMB.median / a.rebuildRssCappedMB.median;
      out.push({ target: `same, young generation capped (${SEMI_FLAG}) (${layout})`, measured: `${fmt(capped)} × (${fmt(b.rebuildRssCappedMB.median)} vs ${fmt(a.rebuildRssCappedMB.median)} MB)`, holds: capped <= 1.3 });
    }
    out.push({ target: `rebuild peak RSS at ${humanCount(large)} < 120 MB (${layout})`, measured: `${fmt(b.rebuildRssMB.max)} MB (max)`, holds: b.rebuildRssMB.max < 120 });
  }
  return out;
}

function machine() {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    memoryGB: Math.round(totalmem() / 1e9),
    freeMemoryGB: Math.round(freemem() / 1e9),
  };
}

/** Start-up targets (issue 13): ratios to `node -e 0` measured in the same reps. */
function startupTargets(s: StartupResult | undefined): Target[] {
  if (!s) return [];
  return [
    { target: 'CLI start-up: `record --aggregate` ≤ 1.4 × `node -e 0`', measured: `${fmt(s.recordRatio.median)} × (${fmt(s.recordMs.median)} vs ${fmt(s.floorMs.median)} ms)`, holds: s.recordRatio.median <= 1.4 },
    { target: 'CLI start-up: `--help` ≤ 1.2 × `node -e 0`', measured: `${fmt(s.helpRatio.median)} × (${fmt(s.helpMs.median)} vs ${fmt(s.floorMs.median)} ms)`, holds: s.helpRatio.median <= 1.2 },
  ];
}

function report(
  m: ReturnType<typeof machine>,
  sizes: SizeResult[],
  epochs: EpochsResult | undefined,
  floor: Summary | undefined,
  append: AppendResult[],
  seal: SealResult | undefined,
  ret: RetentionRow[],
  scale: ScaleResult | undefined,
  startup: StartupResult | undefined,
  goals: Target[],
  seconds: number,
): string {
  const parts: string[] = [];
  parts.push(
    `Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGB} GB RAM, Node ${m.node}, ${m.platform}. ` +
      `Mode: ${QUICK ? 'quick' : 'full'}, median (min–max) of ${REPS} runs unless noted; histories of ~1.3 KB entries from \`bench/generate.ts\`, ` +
      `in the page cache; fsync at the default (\`seal\`). Took ${fmt(seconds)} s.`,
  );
  if (sizes.length) {
    const capped = sizes.some((r) => r.rebuildRssCappedMB);
    const opt = (x: Summary | undefined) => (x ? fmtSummary(x) : '–');
    parts.push(
      '**Full rebuild** (`aggregate --rebuild` through the API, in a fresh process) **vs the bare baseline** (the same files through `fs.createReadStream`, `split2(\'\\n\')`, `JSON.parse` each line, nothing else). ' +
        '"reader + parse" is the store\'s own reader (`scanLines`) with only `JSON.parse` behind it, so *rebuild / reader+parse* is what aggregating itself costs (classify, run-id index, reducer, outputs, fsync). ' +
        '"Both warm": each process does the work once unmeasured, then once measured (up to ' + humanCount(WARM_MAX) + ' entries), which takes the JIT warm-up of a fresh process out of the ratio:',
      markdownTable(
        ['history', 'layout', 'MB', 'baseline MB/s', 'reader + parse MB/s', 'rebuild MB/s', 'rebuild entries/s', 'rebuild / baseline', 'rebuild / reader+parse', 'same two, by CPU time', 'rebuild / baseline, both warm'],
        sizes.map((r) => [
          humanCount(r.entries),
          r.segments ? `${r.layout} (${r.segments} segment${r.segments === 1 ? "" : "s"})` : r.layout,
          fmt(r.bytes / MB),
          fmtSummary(r.baselineMBps),
          fmtSummary(r.parseMBps),
          fmtSummary(r.rebuildMBps),
          fmtSummary(r.rebuildEntriesPerS),
          fmt(r.ratio),
          fmt(r.ratioToParse),
          `${fmt(r.cpuRatio)}, ${fmt(r.cpuRatioToParse)}`,
          r.warmRatio !== undefined ? fmt(r.warmRatio) : '–',
        ]),
      ),
      `**Per-run cost**: append one entry, then aggregate incrementally (what the orchestrator does after each run). API: \`Recorder.append\` + \`aggregate\` in a process of its own (a child, so the harness's heap is not in the way); CLI: a whole \`codex-metrics record --aggregate\` process` +
        (floor ? `, of which starting Node and loading the CLI (\`codex-metrics --help\`) takes ${fmtSummary(floor)} ms` : '') +
        '. Milliseconds:',
      markdownTable(
        ['history', 'layout', 'per run, API ms', 'per run, CLI ms', 'full rebuild ms', 'rebuild / per run (API)'],
        [
          ...sizes.map((r) => [humanCount(r.entries), `${r.layout}, 20 epochs`, fmtSummary(r.perRunApiMs), fmtSummary(r.perRunCliMs), fmtSummary(r.rebuildMs), fmt(r.rebuildMs.median / r.perRunApiMs.median)]),
          ...(epochs ? [[humanCount(epochs.entries), `single file, ${epochs.epochs} epochs (outputs 10x larger)`, fmtSummary(epochs.perRunApiMs), fmtSummary(epochs.perRunCliMs), '–', '–']] : []),
        ],
      ),
      '**Peak RSS** of a full rebuild in a child process (`process.resourceUsage().maxRSS`), MB, with the bare baseline for scale' +
        (capped ? `; "capped": the same processes run with \`node ${SEMI_FLAG}\`, which stops V8 from growing its young generation with allocation volume (the baseline then stays flat, so what is left is the store's own memory)` : '') +
        ':',
      markdownTable(
        ['history', 'layout', 'rebuild RSS MB', 'baseline RSS MB', ...(capped ? ['rebuild, capped', 'baseline, capped'] : [])],
        sizes.map((r) => [
          humanCount(r.entries),
          r.layout,
          fmtSummary(r.rebuildRssMB),
          fmtSummary(r.baselineRssMB),
          ...(capped ? [opt(r.rebuildRssCappedMB), opt(r.baselineRssCappedMB)] : []),
        ]),
      ),
    );
  }
  if (append.length) {
    parts.push(
      '**Append throughput** (fsync `seal`; lost and duplicated counted by run_id afterwards, over all runs):',
      markdownTable(
        ['mode', 'entries per run', 'entries/s', 'segments sealed', 'lost', 'duplicated'],
        append.map((r) => [r.mode, String(r.entries), fmtSummary(r.entriesPerS), String(r.sealed), String(r.lost), String(r.duplicated)]),
      ),
    );
  }
  if (seal) {
    parts.push(
      '**Rotation and retention**:',
      markdownTable(
        ['operation', 'ms'],
        [
          [`seal a ${fmt(seal.sealBytes / MiB)} MiB active file (checksum, rename, index)`, fmtSummary(seal.sealMs)],
          [`retention over ${seal.retentionSegments} segments (${fmt(seal.retentionBytes / MB)} MB): fold into the base, delete all`, fmtSummary(seal.retentionMs)],
        ],
      ),
    );
  }
  if (ret.length) {
    parts.push(
      `**Retention of an aggregated store** (issue 9): keep the newest half of the segments (${fmt(RETENTION_SEGMENT_BYTES / MiB)} MiB each), in a fresh process, on a store aggregated before and on a copy never aggregated (no run-id index to consult); then a \`codex-metrics record --aggregate\` of one entry started while a retention of the aggregated store holds the aggregate lock, and one after it. Milliseconds:`,
      markdownTable(
        ['history', 'segments deleted', 'aggregated', 'never aggregated', 'ratio', 'ratio by CPU time', 'record --aggregate during', 'after', 'retention with it'],
        ret.map((r) => [humanCount(r.entries), `${r.deleted} of ${r.segments}`, fmtSummary(r.aggregatedMs), fmtSummary(r.plainMs), fmt(r.ratio), fmt(r.cpuRatio), fmt(r.recordDuringMs), fmt(r.recordIdleMs), fmt(r.retentionWithRecordMs)]),
      ),
    );
  }
  if (scale) {
    parts.push(
      `**Per run and \`segments\` at ${humanCount(scale.large.entries)} entries** (issue 9): a store of ${scale.large.segments} sealed 10 MiB segments (a million entries generated, their segments copied with new run_ids, ${fmt(scale.generateS)} s) against one of 10k entries (${scale.small.segments} segment); per run as above (append + incremental aggregate, API, 5 interleaved rounds of 20 runs), \`segments --json\` run in a fresh process, timed without Node's start-up (5 runs); wall and CPU (user + system) time. Milliseconds:`,
      markdownTable(
        ['history', 'segments', 'per run, API ms', 'per run, CPU ms', '`segments` ms', '`segments` CPU ms'],
        [
          [humanCount(scale.small.entries), String(scale.small.segments), fmtSummary(scale.perRunSmallMs), fmtSummary(scale.perRunSmallCpuMs), fmtSummary(scale.segmentsSmallMs), fmtSummary(scale.segmentsSmallCpuMs)],
          [humanCount(scale.large.entries), String(scale.large.segments), fmtSummary(scale.perRunLargeMs), fmtSummary(scale.perRunLargeCpuMs), fmtSummary(scale.segmentsLargeMs), fmtSummary(scale.segmentsLargeCpuMs)],
        ],
      ),
    );
  }
  if (startup) {
    parts.push(
      '**CLI start-up** (wall ms per process, `node -e 0`, `--help`, `record --aggregate` of one entry started in turn each rep; ratios per rep):',
      markdownTable(
        ['command', 'ms', '× `node -e 0`'],
        [
          ['`node -e 0`', fmtSummary(startup.floorMs), '1'],
          ['`codex-metrics --help`', fmtSummary(startup.helpMs), fmtSummary(startup.helpRatio)],
          ['`codex-metrics record --aggregate`', fmtSummary(startup.recordMs), fmtSummary(startup.recordRatio)],
          ...(startup.helpCpuRatio && startup.recordCpuRatio
            ? [['by CPU time (user + system): `--help`, `record --aggregate`', '', `${fmtSummary(startup.helpCpuRatio)}; ${fmtSummary(startup.recordCpuRatio)}`]]
            : []),
        ],
      ),
    );
  }
  if (goals.length) {
    parts.push('**Targets** (issues 5, 9 and 13):', markdownTable(['target', 'measured', 'holds'], goals.map((g) => [g.target, g.measured, g.holds ? 'yes' : '**no**'])));
  }
  return `${parts.join('\n\n')}\n`;
}

async function main(): Promise<number> {
  const started = performance.now();
  const m = machine();
  progress(`${QUICK ? 'quick' : 'full'} run: sizes ${SIZES.map(humanCount).join(', ')}, ${REPS} runs each; ${m.cores} cores, Node ${m.node}`);
  const root = await mkdtemp(join(process.env['BENCH_TMP'] ?? tmpdir(), 'codex-metrics-bench-'));
  let sizes: SizeResult[] = [];
  let floor: Summary | undefined;
  let epochs: EpochsResult | undefined;
  let append: AppendResult[] = [];
  let seal: SealResult | undefined;
  let ret: RetentionRow[] = [];
  let scale: ScaleResult | undefined;
  let arch: ArchiveBench | undefined;
  let startup: StartupResult | undefined;
  try {
    if (ONLY.has('startup')) startup = await benchStartup(root, BIN, QUICK ? REPS : Math.max(REPS, 30), check);
    if (ONLY.has('rebuild')) {
      floor = await cliFloor();
      sizes = await benchSizes(root);
      epochs = await benchEpochs(root);
    }
    if (ONLY.has('append')) append = await benchAppend(root);
    if (ONLY.has('seal')) seal = await benchSeal(root);
    if (ONLY.has('retention')) ret = await benchRetention(root);
    if (ONLY.has('scale') && SCALE_ENTRIES > 0) scale = await benchScale(root);
    if (ONLY.has('archive')) arch = await benchArchive(root, { quick: QUICK, reps: REPS, check, progress });
  } catch (err) {
    check(false, `did not complete: ${(err as Error).stack ?? String(err)}`);
  } finally {
    if (!args.keep) await rm(root, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  const goals = [...targets(sizes, ret, scale), ...startupTargets(startup)];
  const text = `${report(m, sizes, epochs, floor, append, seal, ret, scale, startup, goals, seconds)}${arch ? `\n${archiveReport(arch)}\n` : ''}`;
  process.stdout.write(`\n${text}\n`);
  await mkdir(RESULTS, { recursive: true });
  await writeFile(
    join(RESULTS, 'latest.json'),
    `${JSON.stringify({ mode: QUICK ? 'quick' : 'full', date: new Date().toISOString(), seconds, machine: m, reps: REPS, cliFloorMs: floor, sizes, epochs, append, seal, retention: ret, scale, archive: arch, startup, targets: goals, failures }, null, 2)}\n`,
  );
  // Only a full run of every section speaks for the README; quick runs must not overwrite it.
  if (!QUICK && !args.sizes && !args.only && failures.length === 0) await writeFile(join(RESULTS, 'README-table.md'), text);
  const missed = goals.filter((g) => !g.holds).length;
  process.stdout.write(
    failures.length
      ? `bench: FAILED (${failures.length}): ${failures.join('; ')}\n`
      : `bench: completed in ${fmt(seconds)} s, nothing lost; targets: ${goals.length - missed} of ${goals.length} hold\n`,
  );
  return failures.length ? 1 : 0;
}

process.exitCode = await main();
