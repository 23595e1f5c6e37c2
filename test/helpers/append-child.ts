/**
 * A writer process for the multi-process and kill -9 tests. Config comes from
 * the environment (CODEX_METRICS_*), as for any short-lived writer. After each
 * append resolves it prints the ids it acknowledged, one per line, on stdout;
 * at the end a JSON summary on stderr.
 *
 *   node append-child.js '{"dir":"...","prefix":"a","count":100,"batchEvery":10,"batchSize":3,"lockWaitMs":0,"pad":0}'
 *
 * count null: append until killed.
 */
import { Recorder } from '../../lib/store/recorder.js';

export interface ChildArgs {
  dir: string;
  prefix: string;
  count: number | null;
  /** Every Nth call appends a batch instead of one entry (0: never). */
  batchEvery?: number;
  batchSize?: number;
  lockWaitMs?: number;
  /** Extra bytes per entry, to make writes big. */
  pad?: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as ChildArgs;
  const rec = await Recorder.open({ dir: args.dir, ...(args.lockWaitMs !== undefined ? { lockWaitMs: args.lockWaitMs } : {}) });
  const pad = args.pad ? 'x'.repeat(args.pad) : undefined;
  let spilled = 0;
  let merged = 0;
  let sealed = 0;
  let n = 0;
  for (let call = 1; args.count === null || call <= args.count; call++) {
    const size = args.batchEvery && call % args.batchEvery === 0 ? args.batchSize ?? 3 : 1;
    const ids = Array.from({ length: size }, () => `${args.prefix}-${n++}`);
    const batch = ids.map((id) => ({ id, recorded_at: new Date().toISOString(), pid: process.pid, ...(pad ? { pad } : {}) }));
    const res = await rec.append(size === 1 ? batch[0]! : batch);
    if (res.spilled) spilled++;
    merged += res.merged;
    sealed += res.sealed.length;
    // Pipes are synchronous on POSIX: once this returns, the parent can read it.
    process.stdout.write(ids.map((id) => `${id}\n`).join(''));
  }
  await rec.close();
  process.stderr.write(`${JSON.stringify({ summary: { appended: n, spilled, merged, sealed } })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`append-child failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
