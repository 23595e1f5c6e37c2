import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FAULT_ENV, type Fault } from './faulty-fs.js';

export const BIN = fileURLToPath(new URL('../../../bin/codex-metrics', import.meta.url));
/** The CLI with a fault injected into its file system (test/helpers/faulty-cli.ts). */
const FAULTY_BIN = fileURLToPath(new URL('./faulty-cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI as a child process (compiled JS, as users run it). */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; nodeArgs?: string[]; fault?: Fault } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.fault ? FAULTY_BIN : BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, CODEX_METRICS_LOG_LEVEL: undefined, ...(opts.fault ? { [FAULT_ENV]: JSON.stringify(opts.fault) } : {}), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const done = outputOf(child);
    child.stdin.end(opts.input ?? '');
    done.then(resolve, reject);
  });
}

/** Everything a child prints on stdout and stderr, and how it ended (its pipes must be 'pipe'). */
export function outputOf(child: ChildProcess): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** One orchestrator-shaped entry; fields vary with i so outputs are not trivial. */
export function runEntry(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    run_id: `run-${i}`,
    status: i % 7 === 0 ? 'failed' : 'succeeded',
    recorded_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    duration_seconds: 10 + (i % 13) * 1.5,
    instance_stats: i % 5 === 0 ? [] : [{ instance_id: `i${i}`, status: 'ok' }],
    privacy_events: i % 4 === 0 ? [] : [{ action: 'allow' }],
    control_plane_status: i % 6 === 0 ? 'unknown' : 'ok',
    tfgrpo_epoch: i % 3,
    tfgrpo_group_size: 2 + (i % 2),
    tool_calls: i % 4,
    token_total: 100 + i,
    cost_usd: 0.001 * (i % 10),
    latency_ms: 1000 + i,
    tool_stats: [{ tool: i % 2 ? 'cli:command' : 'web', tokens: i, cost_usd: 0.0001 * i, latency_ms: i }],
    ...extra,
  };
}

export function jsonl(entries: Array<Record<string, unknown>>): string {
  return entries.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/** Node flags that run a child with its clock `ms` off (a test seam, preloaded). */
export function skewedClock(ms: number): { nodeArgs: string[]; env: Record<string, string> } {
  return { nodeArgs: ['--import', new URL('./skewed-clock.js', import.meta.url).href], env: { TEST_CLOCK_SKEW_MS: String(ms) } };
}
