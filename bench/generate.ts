/**
 * Synthetic orchestrator histories for the benchmark: deterministic for a
 * seed, ~1.3 KB per entry with the fields the orchestrator writes, and a few
 * duplicate and invalid lines so the aggregator's skip paths are exercised.
 *
 * Histories are written straight in store format (segments, index.json and
 * the active file), which is what the recorder would have produced for the
 * same lines and rotation limit, but without a lock round trip per entry.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../examples/synthetic-runs.js';
import { readIndex, writeIndex, type SegmentRecord } from '../lib/store/segment-index.js';
import { parseSegmentName, segmentFileName, storePaths } from '../lib/store/names.js';

const TOOLS = ['cli:command', 'web:fetch', 'fs:edit', 'fs:read', 'test:run', 'git:diff', 'search:code', 'lint:eslint'];
const PIPELINES = ['build', 'test', 'deploy', 'lint', 'docs', 'release'];
const STATUSES = ['failed', 'stalled', 'cancelled'];
const CONTROL = ['healthy', 'healthy', 'healthy', 'degraded', 'unknown'];
const VALIDATION = ['validated', 'validated', 'validated', 'snapshot_failed', 'stalled_snapshot', 'needs_manual_scenario'];
const WORDS = 'the run retried a flaky step after the cache warmed and the reviewer asked for a smaller diff before merge while tests passed'.split(' ');
const START_MS = Date.UTC(2025, 0, 1);
/** Mean padding so entries average about 1.3 KB. */
const NOTE_CHARS = 80;

export interface GenStats {
  /** Lines written (every kind). */
  lines: number;
  bytes: number;
  /** Lines that count as runs. */
  runs: number;
  duplicates: number;
  invalid: number;
}

/** Seeded source of orchestrator-shaped lines. */
export class EntrySource {
  private readonly rand: () => number;
  private i = 0;
  readonly stats: GenStats = { lines: 0, bytes: 0, runs: 0, duplicates: 0, invalid: 0 };

  constructor(
    readonly seed: number,
    /** 1 in this many lines repeats an earlier run_id, 1 in 2x this many lacks a status; 0: none. */
    private readonly anomalyEvery = 1000,
    /**
     * tfgrpo_epoch advances every this many entries, up to `epochs`. Bounded
     * by default: per-epoch.json (and the checkpoint) hold one record per
     * epoch and are rewritten on every run, so an epoch count that grows with
     * the history would make the per-run cost grow for that reason alone.
     */
    private readonly epoch = { every: 5000, epochs: 20 },
  ) {
    this.rand = mulberry32(seed);
  }

  private isAnomaly(i: number): boolean {
    return this.anomalyEvery > 0 && i > 0 && i % this.anomalyEvery === 0;
  }

  private isInvalid(i: number): boolean {
    return this.anomalyEvery > 0 && !this.isAnomaly(i) && i % (2 * this.anomalyEvery) === this.anomalyEvery / 2;
  }

  /** An earlier line that counted as a run, so repeating its run_id is a duplicate. */
  private earlierRun(i: number): number {
    let j = this.int(0, i - 1);
    while (j > 0 && (this.isAnomaly(j) || this.isInvalid(j))) j--;
    return j;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  private float(lo: number, hi: number, digits: number): number {
    const f = 10 ** digits;
    return Math.round((lo + this.rand() * (hi - lo)) * f) / f;
  }

  private note(): string {
    const target = this.int(NOTE_CHARS / 2, NOTE_CHARS * 1.5);
    let s = '';
    while (s.length < target) s += `${this.pick(WORDS)} `;
    return s.trimEnd();
  }

  runId(i: number): string {
    return `run-${this.seed.toString(36)}-${String(i).padStart(8, '0')}`;
  }

  /** The next entry as an object (what a caller would hand the API). */
  nextEntry(): Record<string, unknown> {
    const i = this.i++;
    const rand = this.rand;
    const succeeded = rand() < 0.94;
    const tools = TOOLS.filter(() => rand() < 0.4);
    const instances = rand() < 0.97 ? this.int(1, 4) : 0;
    const anomaly = this.isAnomaly(i);
    const entry: Record<string, unknown> = {
      run_id: anomaly ? this.runId(this.earlierRun(i)) : this.runId(i),
      task_id: `task-${(this.seed % 97).toString().padStart(3, '0')}`,
      pipeline_id: this.pick(PIPELINES),
      status: succeeded ? 'succeeded' : this.pick(STATUSES),
      recorded_at: new Date(START_MS + i * 60_000 + this.int(0, 59_999)).toISOString(),
      duration_seconds: this.float(5, 900, 3),
      instance_stats: Array.from({ length: instances }, (_, k) => ({
        instance_id: `inst-${k}-${this.int(0, 63)}`,
        status: rand() < 0.95 ? 'ok' : 'retried',
        attempts: this.int(1, 3),
        cpu_seconds: this.float(0.5, 300, 2),
        peak_memory_mb: this.int(64, 4096),
      })),
      privacy_events: rand() < 0.98 ? [{ action: rand() < 0.9 ? 'allow' : 'redact', stage_id: this.pick(PIPELINES), count: this.int(1, 5) }] : [],
      control_plane_status: this.pick(CONTROL),
      tfgrpo_epoch: 1 + Math.min(Math.floor(i / this.epoch.every), this.epoch.epochs - 1),
      tfgrpo_group_size: this.int(2, 8),
      tool_calls: tools.length,
      token_total: this.int(0, 200_000),
      cost_usd: this.float(0, 4, 6),
      latency_ms: this.int(200, 120_000),
      tool_stats: tools.map((tool) => ({
        tool,
        calls: this.int(1, 12),
        tokens: this.int(0, 40_000),
        cost_usd: this.float(0, 0.8, 6),
        latency_ms: this.int(10, 30_000),
      })),
      learning_validation_status: this.pick(VALIDATION),
      learning_review_rejections: this.int(0, 2),
      learning_review_latency_ms: this.int(100, 600_000),
      learning_regressions_detected: rand() < 0.05 ? 1 : 0,
      learning_pattern_promoted: this.int(0, 1),
      learning_pattern_deprecated: rand() < 0.1 ? 1 : 0,
      learning_throughput_candidates: this.int(0, 6),
      learning_alerts: rand() < 0.08 ? this.int(1, 3) : 0,
      learning_snapshot_status: rand() < 0.97 ? 'ok' : this.pick(['snapshot_failed', 'stalled_snapshot']),
      notes: this.note(),
    };
    if (anomaly) this.stats.duplicates++;
    else if (this.isInvalid(i)) {
      delete entry['status'];
      this.stats.invalid++;
    } else this.stats.runs++;
    return entry;
  }

  /** The next entry as the line the store would hold (no "\n"). */
  nextLine(): string {
    const line = JSON.stringify(this.nextEntry());
    this.stats.lines++;
    this.stats.bytes += Buffer.byteLength(line) + 1;
    return line;
  }
}

/** Buffered appends to one file, with the facts a segment record needs. */
class FileWriter {
  private readonly fd: number;
  private buf: string[] = [];
  private bufChars = 0;
  private readonly hash = createHash('sha256');
  lines = 0;
  bytes = 0;
  first: string | null = null;
  last: string | null = null;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  add(line: string, bytes: number, recordedAt: string): void {
    this.buf.push(line, '\n');
    this.bufChars += line.length + 1;
    this.lines++;
    this.bytes += bytes;
    this.first ??= recordedAt;
    this.last = recordedAt;
    if (this.bufChars >= 1 << 22) this.flush();
  }

  private flush(): void {
    if (this.bufChars === 0) return;
    const chunk = Buffer.from(this.buf.join(''));
    this.hash.update(chunk);
    writeSync(this.fd, chunk);
    this.buf = [];
    this.bufChars = 0;
  }

  close(): string {
    this.flush();
    closeSync(this.fd);
    return this.hash.digest('hex');
  }
}

export interface HistoryTarget {
  dir: string;
  /** Seal before a line would take a segment past this many bytes; 0: one active file. */
  segmentBytes: number;
}

export interface GenerateOptions {
  entries: number;
  seed?: number;
  anomalyEvery?: number;
  /** Distinct tfgrpo_epoch values, spread evenly over the history (default 20 at every size). */
  epochs?: number;
  /** Several stores of the same lines, e.g. with and without rotation, in one pass. */
  targets: HistoryTarget[];
}

export interface Generated {
  stats: GenStats;
  /** Sealed segments per target, in target order. */
  segments: number[];
}

/** The rotation rule of the recorder: seal before a line would overflow, never an empty file. */
class StoreWriter {
  private readonly paths;
  private seq = 1;
  private file: FileWriter;
  private readonly records: SegmentRecord[] = [];
  private readonly sealTimeMs: number;

  constructor(private readonly target: HistoryTarget) {
    this.paths = storePaths(target.dir);
    mkdirSync(this.paths.segments, { recursive: true });
    this.sealTimeMs = Date.now() - 86_400_000;
    this.file = this.open();
  }

  private open(): FileWriter {
    return new FileWriter(this.target.segmentBytes > 0 ? join(this.paths.segments, `.bench-${this.seq}.tmp`) : this.paths.active);
  }

  add(line: string, bytes: number, recordedAt: string): void {
    const max = this.target.segmentBytes;
    if (max > 0 && this.file.bytes > 0 && this.file.bytes + bytes > max) this.seal();
    this.file.add(line, bytes, recordedAt);
  }

  private seal(): void {
    const f = this.file;
    const sha256 = f.close();
    const sealedAtMs = this.sealTimeMs + this.seq * 1000;
    const file = segmentFileName(this.seq, sealedAtMs, false);
    // Written under a temp name and renamed, as sealing is: the name is the commit.
    renameSync(f.path, join(this.paths.segments, file));
    this.records.push({
      seq: this.seq,
      file,
      compressed: false,
      lines: f.lines,
      bytes: f.bytes,
      storedBytes: f.bytes,
      sha256,
      firstRecordedAt: f.first,
      lastRecordedAt: f.last,
      sealedAt: new Date(sealedAtMs).toISOString(),
    });
    this.seq++;
    this.file = this.open();
  }

  async finish(): Promise<number> {
    if (this.target.segmentBytes > 0) {
      // What is left after the last seal is the active file, as after recording.
      const f = this.file;
      f.close();
      renameSync(f.path, this.paths.active);
      await writeIndex(this.paths, { version: 1, lastSeq: this.seq - 1, segments: this.records }, false);
    } else {
      this.file.close();
    }
    return this.records.length;
  }
}

export async function generateHistory(opts: GenerateOptions): Promise<Generated> {
  const epochs = opts.epochs ?? 20;
  const source = new EntrySource(opts.seed ?? 1, opts.anomalyEvery ?? 1000, { every: Math.max(1, Math.ceil(opts.entries / epochs)), epochs });
  const writers = opts.targets.map((t) => new StoreWriter(t));
  for (let n = 0; n < opts.entries; n++) {
    const line = source.nextLine();
    const bytes = line.length + 1; // ASCII only: one byte per char
    const recordedAt = recordedAtOfGenerated(line);
    for (const w of writers) w.add(line, bytes, recordedAt);
  }
  const segments: number[] = [];
  for (const w of writers) segments.push(await w.finish());
  return { stats: { ...source.stats }, segments };
}

/** Where run_id numbers of replica k start: far past any one history's, so replicas never share an id. */
const REPLICA_STRIDE = 10_000_000;
const RUN_ID_HEAD = '{"run_id":"run-';

/**
 * A long history fast: the sealed segments of a generated rotated store,
 * appended again `times - 1` times as new segments (seq after seq, the active
 * file staying last), each copy with its run_ids renumbered (by
 * REPLICA_STRIDE per copy, digits patched in place) so every copy counts as
 * runs of its own, duplicates and invalid lines where the original has them.
 * What a 5M-entry store looks like to a pass, at the cost of copying bytes
 * instead of making and serializing 4M more entries. Returns the lines added.
 */
export async function replicateSegments(dir: string, times: number): Promise<number> {
  const paths = storePaths(dir);
  const index = await readIndex(paths);
  if (!index || index.segments.length === 0) throw new Error(`replicateSegments: ${dir} has no sealed segments`);
  const originals = [...index.segments];
  const records = [...originals];
  let seq = index.lastSeq;
  let added = 0;
  const sealTimeMs = Date.parse(originals.at(-1)!.sealedAt);
  for (let k = 1; k < times; k++) {
    for (const o of originals) {
      const bytes = readFileSync(join(paths.segments, o.file));
      renumber(bytes, k * REPLICA_STRIDE);
      seq++;
      const sealedAtMs = sealTimeMs + seq * 1000;
      const file = segmentFileName(seq, sealedAtMs, false);
      writeFileSync(join(paths.segments, file), bytes);
      records.push({ ...o, seq, file, sha256: createHash('sha256').update(bytes).digest('hex'), sealedAt: new Date(sealedAtMs).toISOString() });
      added += o.lines;
    }
  }
  writeIndex(paths, { version: 1, lastSeq: seq, segments: records }, false);
  return added;
}

/** Add `by` to the 8-digit number of every generated run_id at the start of a line of `buf`. */
function renumber(buf: Buffer, by: number): void {
  const head = Buffer.from(RUN_ID_HEAD);
  for (let start = 0; start < buf.length; ) {
    if (buf.compare(head, 0, head.length, start, start + head.length) === 0) {
      // run-<seed in base 36>-<8 digits>
      const dash = buf.indexOf(0x2d, start + head.length);
      const at = dash + 1;
      const n = Number(buf.toString('latin1', at, at + 8)) + by;
      if (!Number.isSafeInteger(n) || n >= 1e8) throw new Error('replicateSegments: run_id numbers past 8 digits');
      buf.write(String(n).padStart(8, '0'), at, 'latin1');
    }
    const nl = buf.indexOf(0x0a, start);
    if (nl === -1) break;
    start = nl + 1;
  }
}

/** recorded_at of a generated line without parsing it again (the field's place and width are fixed). */
function recordedAtOfGenerated(line: string): string {
  const at = line.indexOf('"recorded_at":"') + 15;
  return line.slice(at, line.indexOf('"', at));
}

/** The store's files in read order: sealed segments by seq, then the active file. */
export async function storeFiles(dir: string): Promise<string[]> {
  const paths = storePaths(dir);
  const names = (await readdir(paths.segments).catch(() => [] as string[]))
    .map((f) => parseSegmentName(f))
    .filter((s) => s !== undefined)
    .sort((a, b) => a.seq - b.seq);
  return [...names.map((s) => join(paths.segments, s.file)), paths.active];
}

// `node dist/bench/generate.js DIR ENTRIES [SEGMENT_BYTES] [SEED]`: a history to play with.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, entries, segmentBytes, seed] = process.argv.slice(2);
  if (!dir || !entries) {
    process.stderr.write('usage: node dist/bench/generate.js DIR ENTRIES [SEGMENT_BYTES] [SEED]\n');
    process.exit(2);
  }
  const t0 = performance.now();
  const g = await generateHistory({ entries: Number(entries), seed: Number(seed ?? 1), targets: [{ dir, segmentBytes: Number(segmentBytes ?? 0) }] });
  process.stdout.write(`${JSON.stringify({ ...g.stats, segments: g.segments[0], ms: Math.round(performance.now() - t0) })}\n`);
}
