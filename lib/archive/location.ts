import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

/** Where sealed segments are archived: an S3 bucket (and key prefix) or a local directory. */
export type ArchiveLocation =
  | { kind: 's3'; bucket: string; prefix: string; url: string }
  | { kind: 'dir'; path: string; url: string };

// S3's own bucket naming rules (lower case, 3-63, no leading/trailing dot or dash).
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * `s3://bucket/prefix`, a `file:` URL or a directory path. `url` is the
 * canonical form: it keys the local record of what was archived where.
 */
export function parseArchiveLocation(raw: string, source: string): ArchiveLocation {
  const text = raw.trim();
  if (text === '') throw new UsageError(`invalid ${source}="${raw}": expected s3://bucket/prefix, a file: URL or a directory path`);
  if (/^s3:\/\//i.test(text)) {
    const rest = text.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = (slash === -1 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
    if (!BUCKET_RE.test(bucket)) {
      throw new UsageError(`invalid ${source}=${JSON.stringify(raw)}: expected s3://bucket/prefix with a valid bucket name`);
    }
    return { kind: 's3', bucket, prefix, url: `s3://${bucket}${prefix ? `/${prefix}` : ''}` };
  }
  if (/^file:/i.test(text)) {
    let path: string;
    try {
      path = fileURLToPath(text);
    } catch (err) {
      throw new UsageError(`invalid ${source}=${JSON.stringify(raw)}: ${(err as Error).message}`);
    }
    return { kind: 'dir', path, url: `file://${path}` };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new UsageError(`invalid ${source}=${JSON.stringify(raw)}: expected s3://bucket/prefix, a file: URL or a directory path`);
  }
  const path = resolve(text);
  return { kind: 'dir', path, url: `file://${path}` };
}

/** The S3 endpoint setting: an http(s) URL. */
export function parseEndpoint(raw: string, source: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UsageError(`invalid ${source}=${JSON.stringify(raw)}: expected an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`invalid ${source}=${JSON.stringify(raw)}: expected an http(s) URL`);
  }
  return url.toString().replace(/\/+$/, '');
}
