/**
 * Archive rows of the benchmark: `archive` to a directory against a plain copy
 * of the same segment files (with and without an fsync per file: the archive
 * fsyncs each one, as a durable copy must), and the latency `record` adds when
 * it archives the segment it sealed.
 */
import { copyFile, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { archive } from '../lib/archive/archiver.js';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/log.js';
import { storePaths, parseSegmentName } from '../lib/store/names.js';
import { Recorder } from '../lib/store/recorder.js';
import { BIN, runNode, time } from './proc.js';
import { markdownTable, fmtSummary, mapSummary, summarize, type Summary } from './stats.js';

const msOf = async (work: () => Promise<unknown>): Promise<number> => (await time(work)).ms;

const MB = 1e6;
const log = createLogger('silent');

export interface ArchiveBench {
  segments: number;
  bytes: number;
  archiveMBps: Summary;
  copyMBps: Summary;
  copyFsyncMBps: Summary;
  /** Archive throughput over the fsynced copy's, medians. */
  ratioToCopyFsync: number;
  ratioToCopy: number;
  recordMs: Summary;
  recordArchiveMs: Summary;
  /** Median added latency of a sealing `record` with an archive set. */
  addedMs: number;
}

function entry(i: number): Record<string, unknown> {
  return {
    run_id: `bench-${i}`,
    status: i % 9 === 0 ? 'failed' : 'succeeded',
    recorded_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    duration_seconds: 10 + (i % 50),
    tfgrpo_epoch: i % 10,
    cost_usd: (i % 100) / 1000,
    notes: 'x'.repeat(900),
  };
}

async function makeStore(dir: string, totalBytes: number, segmentBytes: number): Promise<void> {
  const rec = await Recorder.open({ config: loadConfig({ dir, maxBytes: segmentBytes, fsync: 'never' }, { env: {}, defaultsFile: null }), log });
  const perEntry = JSON.stringify(entry(0)).length + 1;
  const n = Math.ceil(totalBytes / perEntry) + 1;
  for (let i = 0; i < n; i += 1000) await rec.append(Array.from({ length: Math.min(1000, n - i) }, (_, k) => entry(i + k)));
  await rec.close();
}


async function copyAll(files: string[], from: string, to: string, fsync: boolean): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const f of files) {
    await copyFile(join(from, f), join(to, f));
    if (fsync) {
      const fh = await open(join(to, f), 'r');
      await fh.sync();
      await fh.close();
    }
  }
}


export async function benchArchive(root: string, opts: { quick: boolean; reps: number; check: (ok: boolean, what: string) => void; progress: (msg: string) => void }): Promise<ArchiveBench> {
  const store = join(root, 'archive-store');
  const total = opts.quick ? 16 * MB : 128 * MB;
  opts.progress(`archive: a store of ${total / MB} MB in 4 MiB segments`);
  await makeStore(store, total, 4 << 20);
  const segDir = storePaths(store).segments;
  const files = (await readdir(segDir)).filter((f) => parseSegmentName(f)).sort();
  let bytes = 0;
  for (const f of files) bytes += (await stat(join(segDir, f))).size;

  const archiveMs: number[] = [];
  const copyMs: number[] = [];
  const copyFsyncMs: number[] = [];
  for (let i = 0; i < opts.reps; i++) {
    const dest = join(root, `archive-dest-${i}`);
    // The record of what was archived would make later runs no-ops: each run starts without it.
    await rm(join(segDir, 'archived.json'), { force: true });
    archiveMs.push(
      await msOf(async () => {
        const r = await archive({ dir: store, to: dest, log, fsync: 'seal' });
        opts.check(r.archived.length === files.length && r.remaining === 0, `archive copied ${r.archived.length} of ${files.length} segments`);
      }),
    );
    await rm(dest, { recursive: true, force: true });
    copyMs.push(await msOf(() => copyAll(files, segDir, join(root, `copy-${i}`), false)));
    await rm(join(root, `copy-${i}`), { recursive: true, force: true });
    copyFsyncMs.push(await msOf(() => copyAll(files, segDir, join(root, `copy-fsync-${i}`), true)));
    await rm(join(root, `copy-fsync-${i}`), { recursive: true, force: true });
  }
  const mbps = (ms: number) => bytes / MB / (ms / 1000);
  const archiveMBps = mapSummary(summarize(archiveMs), mbps);
  const copyMBps = mapSummary(summarize(copyMs), mbps);
  const copyFsyncMBps = mapSummary(summarize(copyFsyncMs), mbps);

  // A `record` that seals one segment per call (MAX_LINES=1), with and without an archive set.
  opts.progress('archive: record latency with and without an archive');
  const recordMs: number[] = [];
  const recordArchiveMs: number[] = [];
  const reps = opts.quick ? 5 : 15;
  for (const [dir, withArchive, out] of [[join(root, 'rec-plain'), false, recordMs], [join(root, 'rec-archive'), true, recordArchiveMs]] as const) {
    const env = { CODEX_METRICS_MAX_LINES: '1', ...(withArchive ? { CODEX_METRICS_ARCHIVE: join(root, 'rec-archive-dest') } : {}) };
    for (let i = 0; i < reps + 1; i++) {
      const r = await runNode([BIN, 'record', '--dir', dir], { input: `${JSON.stringify(entry(i))}\n`, env: { CODEX_METRICS_LOG_LEVEL: undefined, ...env }, stdout: 'ignore', stderr: 'ignore' });
      opts.check(r.code === 0, `record ${withArchive ? 'with' : 'without'} an archive exited ${r.code}`);
      if (i > 0) out.push(r.ms);
    }
  }
  if (recordArchiveMs.length) {
    const archived = await readdir(join(root, 'rec-archive-dest')).catch(() => [] as string[]);
    opts.check(archived.length === 1, 'record with an archive set archived under one storeId');
  }
  const rec = summarize(recordMs);
  const recArch = summarize(recordArchiveMs);
  return {
    segments: files.length,
    bytes,
    archiveMBps,
    copyMBps,
    copyFsyncMBps,
    ratioToCopyFsync: archiveMBps.median / copyFsyncMBps.median,
    ratioToCopy: archiveMBps.median / copyMBps.median,
    recordMs: rec,
    recordArchiveMs: recArch,
    addedMs: recArch.median - rec.median,
  };
}

export function archiveReport(a: ArchiveBench): string {
  return [
    `**Archive** (\`archive\` to a directory, in process) **vs a plain copy** of the same ${a.segments} segment files (${(a.bytes / MB).toFixed(1)} MB; \`fs.copyFile\` each, then the same with an fsync per file, as the archive does); and a \`record\` through the CLI that seals one segment, without and with \`CODEX_METRICS_ARCHIVE\` set:`,
    markdownTable(
      ['archive MB/s', 'copy MB/s', 'copy + fsync MB/s', 'archive / copy+fsync', 'archive / copy', 'record ms', 'record with archive ms', 'added ms'],
      [[fmtSummary(a.archiveMBps), fmtSummary(a.copyMBps), fmtSummary(a.copyFsyncMBps), a.ratioToCopyFsync.toFixed(2), a.ratioToCopy.toFixed(2), fmtSummary(a.recordMs), fmtSummary(a.recordArchiveMs), a.addedMs.toFixed(1)]],
    ),
  ].join('\n\n');
}
