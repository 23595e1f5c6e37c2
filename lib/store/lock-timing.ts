// Apart from lock.ts so that config can check a stale age without loading the lock's
// module graph (crypto, os, fs/promises), which every command would then pay at start.

/** Holders touch the lock at least this often (more often for small stale ages). */
export const LOCK_REFRESH_MS = 250;
/**
 * The smallest stale age that is safe: a holder on another host whose timer
 * fires every LOCK_REFRESH_MS must miss several beats in a row (a busy event
 * loop, a slow disk) before anyone may take its lock.
 */
export const MIN_LOCK_STALE_MS = 4 * LOCK_REFRESH_MS;
