/**
 * Two kinds of failure matter to callers: the user asked for something that
 * does not parse (CLI exit 2), or the work itself failed (exit 1).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : undefined;
}

/** Run fs work where a missing file is an answer, not a failure. */
export async function ifExists<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * ifExists for the small metadata calls on the per-run path (lstat, readdir,
 * tiny JSON reads): a sync call costs microseconds where a trip through the
 * thread pool costs tens of them, and those trips add up to most of a run.
 */
export function ifExistsSync<T>(work: () => T): T | undefined {
  try {
    return work();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Input that is not what the contract accepts (not JSON, not an object): nothing is written. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** ENOSPC or EDQUOT: the store could not write; what it was replacing is intact. */
export function isDiskFull(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * A write failed for want of space. Every file the store replaces is complete
 * or untouched, and every append is complete or rolled back, so the advice is
 * always the same: make room and run the command again.
 */
export class DiskFullError extends StoreError {
  readonly code: string;
  constructor(path: string, cause: unknown) {
    const code = errnoCode(cause) ?? 'ENOSPC';
    super(`the disk is full (${code} writing ${path}): free some space, then run the command again; nothing was lost, the store's files are as they were before this write`);
    this.code = code;
  }
}

/** Rethrow a disk-full error as DiskFullError naming `path`; others unchanged. */
export function diskFullAs(path: string, err: unknown): unknown {
  return isDiskFull(err) && !(err instanceof DiskFullError) ? new DiskFullError(path, err) : err;
}
