/**
 * A writer that records the way the orchestrator's own recorder does
 * (Kbediako/CO metricsRecorder.ts + metricsAggregator.ts), written for the
 * mixed-fleet tests: its lock (open "wx", then its owner record or a bare
 * UUID; stale after 5 min by mtime; 4 attempts, 50 ms doubling to 200 ms),
 * under it merge metrics.pending/ (stale temps promoted, *.jsonl in name
 * order, blank lines skipped), the newline guard, one appendFile, merge again;
 * when the lock stays busy, a spill "<run_id>-<ms>-<uuid>.jsonl" via a temp.
 * Prints each acknowledged run_id on stdout.
 *
 *   node orchestrator-writer.js '{"root":"...","prefix":"o1","count":20,"lockFormat":"owner"}'
 */
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runEntry } from './cli.js';

interface Args {
  root: string;
  prefix: string;
  count: number;
  lockFormat: 'owner' | 'uuid';
}

const STALE_MS = 5 * 60 * 1000;
const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

async function ensureTrailingNewline(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size === 0) return;
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, size - 1);
      if (b[0] !== 0x0a) await appendFile(path, '\n');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (code(err) !== 'ENOENT') throw err;
  }
}

function isEntry(line: string): boolean {
  try {
    const v = JSON.parse(line.trim()) as Record<string, unknown>;
    return !!v && typeof v === 'object' && !Array.isArray(v) && ['run_id', 'status', 'recorded_at'].every((f) => typeof v[f] === 'string' && (v[f] as string).trim() !== '');
  } catch {
    return false;
  }
}

async function mergePending(root: string): Promise<void> {
  const pending = join(root, 'metrics.pending');
  let names: string[];
  try {
    names = await readdir(pending);
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    throw err;
  }
  for (const n of names.filter((x) => x.endsWith('.tmp'))) {
    const p = join(pending, n);
    const st = await stat(p).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs <= STALE_MS) continue;
    const lines = (await readFile(p, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim());
    if (lines.length > 0 && lines.every(isEntry)) await rename(p, p.replace(/\.tmp$/, '')).catch(() => undefined);
    else await rm(p, { force: true });
  }
  const files = (await readdir(pending)).filter((x) => x.endsWith('.jsonl')).sort();
  for (const f of files) {
    const p = join(pending, f);
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch (err) {
      if (code(err) === 'ENOENT') continue;
      throw err;
    }
    const lines = text.split('\n').filter((l) => l.trim().length > 0);
    if (lines.length > 0) {
      await ensureTrailingNewline(join(root, 'metrics.json'));
      await appendFile(join(root, 'metrics.json'), `${lines.join('\n')}\n`);
    }
    await rm(p, { force: true });
  }
}

async function withLock(root: string, format: Args['lockFormat'], work: () => Promise<void>): Promise<boolean> {
  const lockPath = join(root, 'metrics.lock');
  const st = await stat(lockPath).catch(() => undefined);
  if (st && Date.now() - st.mtimeMs > STALE_MS) await rm(lockPath, { force: true });
  const token = randomUUID();
  let delay = 50;
  for (let attempt = 1; attempt <= 4; attempt++) {
    try {
      const fh = await open(lockPath, 'wx+');
      try {
        await fh.writeFile(format === 'uuid' ? token : `${JSON.stringify({ schema_version: 1, kind: 'codex-lock-owner', token, task_id: 't', pid: process.pid, host: hostname(), acquired_at: new Date().toISOString(), stale_ms: null })}\n`);
      } finally {
        await fh.close();
      }
      try {
        await work();
      } finally {
        const now = await readFile(lockPath, 'utf8').catch(() => '');
        if (now.includes(token)) await rm(lockPath, { force: true });
      }
      return true;
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
      if (attempt === 4) return false;
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
  }
  return false;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as Args;
  await mkdir(args.root, { recursive: true });
  for (let i = 0; i < args.count; i++) {
    const entry = runEntry(i, { run_id: `${args.prefix}-${i}`, recorded_at: new Date().toISOString() });
    const line = `${JSON.stringify(entry)}\n`;
    const done = await withLock(args.root, args.lockFormat, async () => {
      await mergePending(args.root);
      await ensureTrailingNewline(join(args.root, 'metrics.json'));
      await appendFile(join(args.root, 'metrics.json'), line, 'utf8');
      await mergePending(args.root);
    });
    if (!done) {
      const pending = join(args.root, 'metrics.pending');
      await mkdir(pending, { recursive: true });
      const p = join(pending, `${String(entry.run_id).replace(/[^a-zA-Z0-9._-]+/g, '_')}-${Date.now()}-${randomUUID()}.jsonl`);
      await writeFile(`${p}.tmp`, line, { flag: 'wx' });
      await rename(`${p}.tmp`, p);
    }
    process.stdout.write(`${String(entry.run_id)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`orchestrator-writer failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
