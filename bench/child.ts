/**
 * The benchmark's measured work, each in a fresh process so its peak RSS is
 * its own and no JIT warmth carries over between rebuild and baseline.
 * Prints one JSON line on stdout.
 *
 *   child.js rebuild DIR            aggregate --rebuild through the API
 *   child.js baseline DIR           read the same files, split2, JSON.parse, nothing else
 *   child.js parse DIR              JSON.parse each line as read by the store's own reader (scanLines)
 *   child.js append DIR N PREFIX    N appends of one entry each (a concurrent writer)
 *   child.js perrun DIR REPS SEED   append one entry + aggregate, REPS times (per-run cost through the API)
 *   child.js retention DIR KEEP     retention keeping the newest KEEP sealed segments
 *   child.js segments DIR           the `segments --json` command, in process (without Node's start-up)
 */
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import split2 from 'split2';
import { aggregate } from '../lib/aggregate/aggregator.js';
import { scanLines } from '../lib/store/lines.js';
import { Recorder } from '../lib/store/recorder.js';
import { retention } from '../lib/retention/retention.js';
import { main as cli } from '../lib/cli/main.js';
import { EntrySource, storeFiles } from './generate.js';

export interface ChildResult {
  ms: number;
  /** CPU time (user + system) of the measured work, ms: steadier than wall time on a busy machine. */
  cpuMs: number;
  /** Peak resident set size of the whole process, KiB. */
  maxRssKb: number;
  /** Wall clock (ms since epoch) when the measured work started and ended. */
  startedAt: number;
  endedAt: number;
  [k: string]: unknown;
}

/** What any JSON Lines reader has to do at least: bytes in, lines split, each parsed. */
async function baseline(dir: string): Promise<Record<string, unknown>> {
  let lines = 0;
  let objects = 0;
  for (const file of await storeFiles(dir)) {
    await pipeline(
      createReadStream(file),
      // The same matcher as the store's reader: the default regex (/\r?\n/) would flatter the rebuild.
      split2('\n'),
      new Writable({
        objectMode: true,
        write(line: string, _enc, cb) {
          lines++;
          try {
            if (typeof JSON.parse(line) === 'object') objects++;
          } catch {
            // a malformed line costs what it costs
          }
          cb();
        },
      }),
    );
  }
  return { lines, objects };
}

/** The store's reader with nothing but JSON.parse behind it: what the aggregation itself adds is the rest. */
async function parseOnly(dir: string): Promise<Record<string, unknown>> {
  let lines = 0;
  let objects = 0;
  for (const path of await storeFiles(dir)) {
    await scanLines({ path, compressed: path.endsWith('.gz') }, (line) => {
      lines++;
      try {
        if (typeof JSON.parse(line) === 'object') objects++;
      } catch {
        // as in the baseline
      }
    });
  }
  return { lines, objects };
}

async function rebuild(dir: string): Promise<Record<string, unknown>> {
  const r = await aggregate({ dir, rebuild: true, logLevel: 'silent' });
  return { mode: r.mode, linesRead: r.linesRead, totalRuns: r.totalRuns, duplicates: r.duplicates, invalid: r.invalid, malformed: r.malformed };
}

async function append(dir: string, n: number, prefix: string): Promise<Record<string, unknown>> {
  const recorder = await Recorder.open({ dir, logLevel: 'silent', ...(process.env['BENCH_MAX_BYTES'] ? { maxBytes: process.env['BENCH_MAX_BYTES'] } : {}) });
  const source = new EntrySource(hashSeed(prefix), 0);
  let spilled = 0;
  for (let i = 0; i < n; i++) {
    const entry = source.nextEntry();
    entry['run_id'] = `${prefix}-${i}`;
    const r = await recorder.append(entry);
    if (r.spilled) spilled++;
  }
  await recorder.close();
  return { appended: n, spilled };
}

/** REPS runs of what an orchestrator does after each run, after two unmeasured ones (module warm-up); each run's ms. */
async function perRun(dir: string, reps: number, seed: number): Promise<Record<string, unknown>> {
  const opts = { dir, logLevel: 'silent', ...(process.env['BENCH_MAX_BYTES'] ? { maxBytes: process.env['BENCH_MAX_BYTES'] } : {}) };
  const recorder = await Recorder.open(opts);
  const source = new EntrySource(seed, 0);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    const entry = source.nextEntry();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await recorder.append(entry);
    const r = await aggregate(opts);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (r.mode !== 'incremental' || r.linesRead !== 1) throw new Error(`per-run: expected an incremental pass over 1 line, got ${r.mode} over ${r.linesRead}`);
    if (i >= 2) {
      times.push(ms);
      cpuTimes.push((cpu.user + cpu.system) / 1000);
    }
  }
  await recorder.close();
  return { times, cpuTimes };
}

async function retain(dir: string, keep: number): Promise<Record<string, unknown>> {
  const r = await retention({ dir, logLevel: 'silent', retention: { maxSegments: keep } });
  return { deleted: r.deleted.length, kept: r.kept };
}

async function segments(dir: string): Promise<Record<string, unknown>> {
  let out = '';
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const stderr = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const code = await cli(['segments', '--json', '--dir', dir], { stdout, stderr, stdin: process.stdin, env: process.env });
  return { code, segments: code === 0 ? (JSON.parse(out) as { segments: unknown[] }).segments.length : -1 };
}

function hashSeed(s: string): number {
  let h = 7;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) >>> 0;
  return h;
}

const [task, dir, ...rest] = process.argv.slice(2);
const work: Record<string, () => Promise<Record<string, unknown>>> = {
  baseline: () => baseline(dir!),
  parse: () => parseOnly(dir!),
  rebuild: () => rebuild(dir!),
  append: () => append(dir!, Number(rest[0]), rest[1]!),
  perrun: () => perRun(dir!, Number(rest[0]), Number(rest[1])),
  retention: () => retain(dir!, Number(rest[0])),
  segments: () => segments(dir!),
};
const run = task !== undefined ? work[task] : undefined;
if (!run || !dir) {
  process.stderr.write('usage: child.js rebuild|baseline|parse DIR | append DIR N PREFIX | perrun DIR REPS SEED | retention DIR KEEP | segments DIR\n');
  process.exit(2);
}
// Concurrent writers start together: the parent names the moment.
const startAt = Number(process.env['BENCH_START_AT'] ?? 0);
if (startAt > Date.now()) await new Promise((r) => setTimeout(r, startAt - Date.now()));
// BENCH_WARMUP=N: do the work N times unmeasured first, so the measured run finds the JIT warm.
for (let i = Number(process.env['BENCH_WARMUP'] ?? 0); i > 0; i--) await run();
const startedAt = Date.now();
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const extra = await run();
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const result: ChildResult = { ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRssKb: process.resourceUsage().maxRSS, startedAt, endedAt: Date.now(), ...extra };
process.stdout.write(`${JSON.stringify(result)}\n`);
