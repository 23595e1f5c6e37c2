/**
 * CLI start-up against Node's own floor, in one run: `node -e 0`,
 * `codex-metrics --help` and `codex-metrics record --aggregate` (one entry
 * into a small store) are started in turn, floor-help-record, rep after rep,
 * and each ratio is taken within its rep, so a machine that speeds up or
 * slows down during the run moves all three together.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run as runTimed } from './proc.js';
import { summarize, type Summary } from './stats.js';

export interface StartupResult {
  floorMs: Summary;
  helpMs: Summary;
  recordMs: Summary;
  /** Medians of the per-rep ratios to the floor. */
  helpRatio: Summary;
  recordRatio: Summary;
  /** The same ratios by CPU time (user + system, from GNU time): steadier on a busy machine. */
  helpCpuRatio?: Summary;
  recordCpuRatio?: Summary;
}

const GNU_TIME = '/usr/bin/time';

/** Wall ms from spawn to exit, and CPU ms (user + system) when GNU time is there to count it. */
async function timed(argv: string[], cpuFile: string | undefined, input = ''): Promise<{ ms: number; cpuMs: number | undefined; code: number | null; stderr: string }> {
  const [cmd, args] = cpuFile ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, process.execPath, ...argv]] : [process.execPath, argv];
  const run = await runTimed(cmd, args, { input, stdout: 'ignore', env: { CODEX_METRICS_LOG_LEVEL: undefined } });
  if (!cpuFile) return { ...run, cpuMs: undefined };
  const [user, sys] = (await readFile(cpuFile, 'utf8')).trim().split(/\s+/).slice(-2).map(Number);
  return { ...run, cpuMs: (user! + sys!) * 1000 };
}

export async function benchStartup(root: string, bin: string, reps: number, check: (ok: boolean, what: string) => void): Promise<StartupResult> {
  const dir = await mkdtemp(join(root, 'startup-'));
  const cpuFile = existsSync(GNU_TIME) ? join(dir, 'cpu.txt') : undefined;
  const floor: number[] = [];
  const help: number[] = [];
  const record: number[] = [];
  const cpu: Array<[number, number, number]> = [];
  try {
    for (let i = 0; i < reps + 1; i++) {
      const entry = `${JSON.stringify({ run_id: `startup-${i}`, status: 'succeeded', recorded_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), duration_seconds: 1 })}\n`;
      const f = await timed(['-e', '0'], cpuFile);
      const h = await timed([bin, '--help'], cpuFile);
      const r = await timed([bin, 'record', '--aggregate', '--dir', join(dir, 'store')], cpuFile, entry);
      check(h.code === 0 && r.code === 0, `start-up: --help exited ${h.code}, record --aggregate exited ${r.code}: ${r.stderr.trim()}`);
      // The first rep warms the page cache and creates the store.
      if (i === 0) continue;
      floor.push(f.ms);
      help.push(h.ms);
      record.push(r.ms);
      if (f.cpuMs !== undefined && h.cpuMs !== undefined && r.cpuMs !== undefined) cpu.push([f.cpuMs, h.cpuMs, r.cpuMs]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    floorMs: summarize(floor),
    helpMs: summarize(help),
    recordMs: summarize(record),
    helpRatio: summarize(help.map((h, i) => h / floor[i]!)),
    recordRatio: summarize(record.map((r, i) => r / floor[i]!)),
    ...(cpu.length
      ? { helpCpuRatio: summarize(cpu.map(([f, h]) => h / f)), recordCpuRatio: summarize(cpu.map(([f, , r]) => r / f)) }
      : {}),
  };
}
