import { fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

/**
 * The one way the store's writes reach the file system, as LevelDB's Env or
 * Prometheus' SegmentFile: tests install a wrapping FileSystem to inject ENOSPC,
 * EIO, short writes, failed fsyncs, or a SIGKILL at a named site or step.
 * Production code calls it and nothing else; it carries no test switches.
 */

/** Which of the store's writes a call belongs to. */
export type WriteSite =
  /** Atomic JSON files: outputs, checkpoint, retained base, index.json, the run-id layout. */
  | 'json'
  /** Appends to metrics.json. */
  | 'active'
  /** The rename that seals metrics.json into a segment. */
  | 'seal'
  /** The compressed copy written while sealing with gzip. */
  | 'gzip'
  /** Bytes moved to metrics.corrupt/. */
  | 'quarantine'
  /** Entries spilled to metrics.pending/ while the lock is busy. */
  | 'spill'
  /** Claims on spills (renamed while merged) and their removal. */
  | 'merge'
  /** Buckets of the run-id index. */
  | 'run-ids'
  /** Segments rewritten by verify --repair. */
  | 'repair'
  /** Segments deleted by retention. */
  | 'retention'
  /** The lock's candidate file, linked into place as metrics.lock. */
  | 'lock'
  /** Copies in a local-directory archive. */
  | 'archive'
  /** flatten: the one plain file it writes back, and its journal. */
  | 'flatten';

/**
 * Points between two steps of a crash-ordered sequence. The real file system
 * does nothing there; a test's may die there (SIGKILL) or throw.
 */
export type Step =
  | 'seal:renamed'
  | 'seal:gzipped'
  | 'writer:merge-claimed'
  | 'writer:merge-appended'
  | 'retention:after-fold'
  | 'retention:mid-delete'
  | 'aggregate:after-reset'
  | 'aggregate:before-checkpoint'
  | 'run-ids:before-switch'
  | 'repair:quarantined'
  | 'flatten:written'
  | 'flatten:journaled'
  | 'flatten:renamed';

export interface FileSystem {
  open(path: string, flags: number, mode: number, site: WriteSite): number;
  /** Writes at the file's current position; may write fewer bytes than asked. */
  write(fd: number, data: Uint8Array, offset: number, length: number, site: WriteSite): number;
  fsync(fd: number, site: WriteSite): void;
  rename(from: string, to: string, site: WriteSite): void;
  unlink(path: string, site: WriteSite): void;
  step(step: Step): void;
}

export const realFileSystem: FileSystem = {
  open: (path, flags, mode) => openSync(path, flags, mode),
  write: (fd, data, offset, length) => writeSync(fd, data, offset, length),
  fsync: (fd) => fsyncSync(fd),
  rename: (from, to) => renameSync(from, to),
  unlink: (path) => unlinkSync(path),
  step: () => undefined,
};

let current: FileSystem = realFileSystem;

export function fileSystem(): FileSystem {
  return current;
}

/** Install `fs` for every store write of this process; returns the way back. */
export function useFileSystem(fs: FileSystem): () => void {
  const before = current;
  current = fs;
  return () => {
    current = before;
  };
}
