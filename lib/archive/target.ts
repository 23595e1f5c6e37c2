import type { Readable } from 'node:stream';
import { StoreError } from '../errors.js';
import type { ArchiveLocation } from './location.js';

/** A segment to copy: where it is here, and what its bytes hash to. */
export interface SegmentSource {
  file: string;
  path: string;
  sha256: string;
  size: number;
}

/**
 * One archive, as the archiver and rebuilds use it. Objects are addressed
 * as `<storeId>/<name>`. Segments are created once and never replaced;
 * the catalogue is overwritten.
 */
export interface ArchiveTarget {
  readonly url: string;
  /**
   * Create the segment unless it is there. 'created' when this call wrote it,
   * 'already' when the same bytes (same sha256) were there; a different
   * object there is an ArchiveConflictError, and it is left as it is.
   */
  putSegment(storeId: string, seg: SegmentSource): Promise<'created' | 'already'>;
  /** The sha256 of the archived object, or undefined when there is none. */
  sha256Of(storeId: string, name: string): Promise<string | undefined>;
  /** The archived object's bytes, or undefined when there is none. */
  open(storeId: string, name: string): Promise<Readable | undefined>;
  /** Overwrite a small object (the catalogue). */
  putSmall(storeId: string, name: string, bytes: Buffer): Promise<void>;
}

/** An archived object that is not the segment of that name here: never overwritten. */
export class ArchiveConflictError extends StoreError {
  constructor(url: string, storeId: string, file: string, local: string, archived: string) {
    super(`archive conflict: ${url}/${storeId}/${file} holds other bytes (sha256 ${archived}) than the local segment (sha256 ${local}); it is left as it is and not overwritten`);
  }
}

/** The archive's objects go where the location says; S3 code loads only when used. */
export async function openTarget(loc: ArchiveLocation, s3: { endpoint: string | undefined; env: NodeJS.ProcessEnv; signal?: AbortSignal | undefined }): Promise<ArchiveTarget> {
  if (loc.kind === 'dir') {
    const { DirTarget } = await import('./dir-target.js');
    return new DirTarget(loc.path, loc.url);
  }
  const { S3Target } = await import('./s3-target.js');
  return S3Target.fromEnv(loc, s3.endpoint, s3.env, s3.signal);
}
