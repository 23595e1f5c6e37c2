import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildArgs } from './append-child.js';

const CHILD = fileURLToPath(new URL('./append-child.js', import.meta.url));

export interface Appender {
  child: ChildProcess;
  /** Ids the child acknowledged so far (complete stdout lines only). */
  readonly acked: string[];
  /** Resolves once `n` ids are acknowledged (or the child ended). */
  waitFor(n: number): Promise<void>;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; summary: ChildSummary | undefined }>;
}

export interface ChildSummary {
  appended: number;
  spilled: number;
  merged: number;
  sealed: number;
}

/** The environment of a writer: the parent's, minus any CODEX_METRICS_* it has, plus `env`. */
export function writerEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CODEX_METRICS_')));
  return { ...base, CODEX_METRICS_LOG_LEVEL: 'warn', ...env };
}

/** `nodeArgs` go before the script, e.g. a preloaded seam (`--import` skewed-clock.js). */
export function startAppender(args: ChildArgs, env: Record<string, string>, nodeArgs: string[] = []): Appender {
  const child = spawn(process.execPath, [...nodeArgs, CHILD, JSON.stringify(args)], { env: writerEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: string[] = [];
  let partial = '';
  let stderr = '';
  let ended = false;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const wake = () => {
    for (const w of [...waiters]) {
      if (ended || acked.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    acked.push(...lines);
    wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; summary: ChildSummary | undefined }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      ended = true;
      wake();
      const line = stderr.split('\n').find((l) => l.startsWith('{"summary"'));
      resolve({ code, signal, stderr, summary: line ? (JSON.parse(line) as { summary: ChildSummary }).summary : undefined });
    });
  });
  return {
    child,
    acked,
    waitFor: (n) => new Promise<void>((resolve) => {
      waiters.push({ n, resolve });
      wake();
    }),
    done,
  };
}
