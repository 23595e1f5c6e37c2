import { errnoCode } from '../errors.js';

/**
 * What to do about a file-system failure, by errno: "ENOSPC: no space left
 * on device, write" says what happened, not what the user can do about it.
 * The code is taken from the error, else from its message (library errors
 * wrap Node's and keep its text).
 */
const ADVICE: Record<string, string> = {
  ENOSPC: 'the disk is full: free space on it (or move the store with --dir) and run the command again; nothing acknowledged was lost',
  EDQUOT: 'the disk quota is used up: free space or raise the quota, then run the command again',
  EROFS: 'the file system is mounted read-only: remount it read-write, or point --dir at a writable directory',
  EACCES: 'permission denied: run as the user who owns the store, or fix the owner and mode of the path named above',
  EPERM: 'operation not permitted: run as the user who owns the store, or check the path for immutable attributes',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and run the command again',
  ENFILE: 'the system ran out of file descriptors: close other programs and run the command again',
  EIO: 'an I/O error from the disk: check the device (dmesg), then run codex-metrics verify',
};

const CODE_IN_TEXT = new RegExp(`\\b(${Object.keys(ADVICE).join('|')})\\b`);

export function adviceFor(err: unknown): string | undefined {
  const code = errnoCode(err);
  if (code && ADVICE[code]) return ADVICE[code];
  const m = err instanceof Error ? CODE_IN_TEXT.exec(err.message) : null;
  return m ? ADVICE[m[1]!] : undefined;
}
