import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import { storePaths } from '../../lib/store/names.js';
import { BIN, runCli } from '../helpers/cli.js';
import { openRecorder, readStore } from '../helpers/store.js';
import { useTmpDir } from '../helpers/tmp.js';

const entry = (i: number) => ({ run_id: `r${i}`, status: 'succeeded', recorded_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() });

/** Lines a child prints, as they come; `until(n)` resolves once n lines are in. */
function follow(dir: string, args: string[]) {
  const child = spawn(process.execPath, [BIN, 'tail', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CODEX_METRICS_LOG_LEVEL: undefined } });
  let out = '';
  let err = '';
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const lines = () => out.split('\n').slice(0, -1);
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of waiters.splice(0)) (lines().length >= w.n ? w.resolve : () => waiters.push(w))();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    stderr: () => err,
    exited,
    until: (n: number, ms = 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (lines().length >= n) return resolve();
        const t = setTimeout(() => reject(new Error(`saw ${lines().length} of ${n} lines; stderr: ${err}`)), ms);
        waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
      }),
  };
}

describe('tail', function () {
  const tmp = useTmpDir();

  it('prints the last N entries across segments, exactly as stored, never a torn tail', async function () {
    const rec = await openRecorder(tmp.dir, { maxLines: 2, compress: 'gzip' });
    await rec.append(Array.from({ length: 7 }, (_, i) => entry(i)));
    await rec.close();
    await appendFile(storePaths(tmp.dir).active, '{"run_id":"torn"');
    const all = (await readStore(tmp.dir)).all;
    const r = await runCli(['tail', '-n', '4', '--dir', tmp.dir]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(all.slice(-4).map((l) => `${l}\n`).join(''));
    const dflt = await runCli(['tail', '--json', '--dir', tmp.dir]);
    expect(dflt.stdout.trimEnd().split('\n')).to.deep.equal(all);
  });

  it('--follow, as a child process, sees entries appended across plain and gzip seals once each, in order, and exits 0 on SIGINT', async function () {
    const rec = await openRecorder(tmp.dir, { maxLines: 3 });
    await rec.append(Array.from({ length: 5 }, (_, i) => entry(i)));
    await rec.close();
    const f = follow(tmp.dir, ['-n', '2', '--follow']);
    await f.until(2);
    let next = 5;
    for (const [compress, batches] of [['none', 6], ['gzip', 6]] as const) {
      for (let b = 0; b < batches; b++) {
        const w = await openRecorder(tmp.dir, { maxLines: 3, compress });
        // Batches of 1 or 2 lines against 3-line segments: seals land between and inside batches.
        await w.append(Array.from({ length: 1 + (b % 2) }, () => entry(next++)));
        await w.close();
        if (b % 3 === 0) await new Promise((r) => setTimeout(r, 250));
      }
    }
    // A torn tail is not an entry until its newline lands.
    await appendFile(storePaths(tmp.dir).active, JSON.stringify(entry(next)).slice(0, 20));
    const expected = Array.from({ length: next - 3 }, (_, i) => JSON.stringify(entry(i + 3)));
    await f.until(expected.length);
    await new Promise((r) => setTimeout(r, 600));
    expect(f.lines()).to.deep.equal(expected);
    const store = await readStore(tmp.dir);
    expect(store.segments.some((s) => s.file.endsWith('.gz'))).to.equal(true);
    expect(store.segments.length).to.be.greaterThan(5);
    f.child.kill('SIGINT');
    const { code, signal } = await f.exited;
    expect({ code, signal }, f.stderr()).to.deep.equal({ code: 0, signal: null });
  });

  it('refuses a count that is not a whole number with exit 2', async function () {
    const r = await runCli(['tail', '-n', 'ten', '--dir', tmp.dir]);
    expect(r.code).to.equal(2);
  });
});
