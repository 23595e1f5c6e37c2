/**
 * Holds the writer lock of a metrics root as a live process would, until its
 * stdin closes: prints "held" once it has the lock, "released" at the end.
 *
 *   node lock-holder.js DIR [LOCK]   (LOCK: another lock file, e.g. DIR/metrics/aggregate.lock)
 */
import { lock } from '../../lib/store/lock.js';
import { storePaths } from '../../lib/store/names.js';
import { createLogger } from '../../lib/log.js';

async function main(): Promise<void> {
  const path = process.argv[3] ?? storePaths(process.argv[2]!).lock;
  const held = await lock(path, { staleMs: 300_000, log: createLogger('silent'), waitMs: 30_000 });
  if (!held) throw new Error('could not take the lock');
  process.stdout.write('held\n');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
  await held.release();
  process.stdout.write('released\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`lock-holder failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
