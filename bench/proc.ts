/**
 * Child processes and timings for the bench: one way to start a command, feed
 * it stdin and time it from spawn to exit. Output a timing must not pay a pipe
 * for is discarded ('ignore').
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The CLI as users run it. */
export const BIN = fileURLToPath(new URL('../../bin/codex-metrics', import.meta.url));

export interface Proc {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

export interface RunOptions {
  input?: string;
  /** Laid over this process's environment (undefined removes a variable). */
  env?: NodeJS.ProcessEnv;
  stdout?: 'pipe' | 'ignore';
  stderr?: 'pipe' | 'ignore';
}

export function run(cmd: string, argv: string[], opts: RunOptions = {}): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    // Without input, stdin is /dev/null: a child that exits at once leaves no pipe to write to.
    const child = spawn(cmd, argv, { env: { ...process.env, ...opts.env }, stdio: [opts.input === undefined ? 'ignore' : 'pipe', opts.stdout ?? 'pipe', opts.stderr ?? 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
    if (child.stdin) {
      // A child that exits without reading all of it (an error) closes the pipe first: not the bench's failure.
      child.stdin.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') reject(err);
      });
      child.stdin.end(opts.input);
    }
  });
}

/** Node itself running `argv` (a script and its arguments). */
export function runNode(argv: string[], opts: RunOptions = {}): Promise<Proc> {
  return run(process.execPath, argv, opts);
}

export async function time<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}
