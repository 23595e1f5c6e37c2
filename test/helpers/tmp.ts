import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../lib/log.js';

/** A fresh temp directory per test, removed afterwards (kept when KEEP_TMP is set). */
export function useTmpDir(): { readonly dir: string } {
  const box = { dir: '' };
  beforeEach(async () => {
    box.dir = await mkdtemp(join(tmpdir(), 'codex-metrics-test-'));
  });
  afterEach(async () => {
    if (!process.env['KEEP_TMP']) await rm(box.dir, { recursive: true, force: true });
  });
  return box;
}

export const quietLog: Logger = createLogger('silent');
