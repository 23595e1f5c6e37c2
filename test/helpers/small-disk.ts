import { execFileSync } from 'node:child_process';
import { closeSync, openSync, statfsSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real small file system per test: a tmpfs of `bytes` mounted on a fresh
 * directory (the tests run as root). Where mount is refused, the test is
 * skipped with the reason, never passed.
 */
export function useSmallDisk(bytes: number): { readonly dir: string } {
  const box = { dir: '' };
  let mounted = false;
  beforeEach(async function () {
    box.dir = await mkdtemp(join(tmpdir(), 'codex-metrics-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', box.dir], { stdio: 'pipe' });
      mounted = true;
    } catch (err) {
      const why = ((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim();
      // Not root, or no CAP_SYS_ADMIN: no real full disk here. Counted as skipped, with the reason.
      console.warn(`      skipped: mount -t tmpfs refused: ${why}`);
      this.skip();
    }
  });
  afterEach(async () => {
    if (mounted) execFileSync('umount', ['-l', box.dir], { stdio: 'pipe' });
    mounted = false;
    await rm(box.dir, { recursive: true, force: true });
  });
  return box;
}

/** Bytes still free for an unprivileged write on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Fill the file system holding `dir` with `file` until at most `leave` bytes
 * are free (0: until a write fails for want of space).
 */
export function fillDisk(file: string, leave: number): void {
  const fd = openSync(file, 'a');
  try {
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    for (let size = chunk.length; size >= 1; size = size >> 1) {
      for (;;) {
        const want = freeBytes(file.slice(0, file.lastIndexOf('/'))) - leave;
        if (want < size) break;
        try {
          writeSync(fd, chunk, 0, size);
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
