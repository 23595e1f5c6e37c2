import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { StoreError, UsageError } from '../errors.js';
import { hashFile } from './bytes.js';
import type { ArchiveLocation } from './location.js';
import { credentialsFromEnv, S3Client } from './s3-client.js';
import { ArchiveConflictError, type ArchiveTarget, type SegmentSource } from './target.js';

/** The object metadata a segment carries: its sha256, so a HEAD can compare. */
const SHA_META = 'sha256';

/**
 * An S3 bucket (path-style, any S3-compatible server). A segment is created
 * with a conditional PUT (If-None-Match: *): a 412 (or 304) means an object
 * is there, and its sha256 decides: equal is done, different is an error.
 */
export class S3Target implements ArchiveTarget {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    readonly url: string,
  ) {}

  static fromEnv(loc: Extract<ArchiveLocation, { kind: 's3' }>, endpoint: string | undefined, env: NodeJS.ProcessEnv, signal?: AbortSignal): S3Target {
    const credentials = credentialsFromEnv(env);
    if (!credentials) throw new UsageError(`archive ${loc.url}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set`);
    const region = env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || 'us-east-1';
    const client = new S3Client({ endpoint: endpoint ?? `https://s3.${region}.amazonaws.com`, region, credentials, signal });
    return new S3Target(client, loc.bucket, loc.prefix, loc.url);
  }

  private key(storeId: string, name: string): string {
    return `${this.prefix ? `${this.prefix}/` : ''}${storeId}/${name}`;
  }

  async putSegment(storeId: string, seg: SegmentSource): Promise<'created' | 'already'> {
    // The body's hash is signed (x-amz-content-sha256) and checked by the
    // server, so the bytes read now must be the catalogue's: hash them first.
    const local = await hashFile(seg.path);
    if (!local) throw Object.assign(new Error(`${seg.path} is gone`), { code: 'ENOENT' });
    if (local.sha256 !== seg.sha256) {
      throw new StoreError(`archive: ${seg.file} does not match its sha256 in the catalogue (${local.sha256} != ${seg.sha256}); run \`codex-metrics verify\``);
    }
    const key = this.key(storeId, seg.file);
    const result = await this.client.putObject(this.bucket, key, () => createReadStream(seg.path), {
      sha256: seg.sha256,
      size: local.size,
      ifNoneMatch: true,
      metadata: { [SHA_META]: seg.sha256 },
      contentType: seg.file.endsWith('.gz') ? 'application/gzip' : 'application/x-ndjson',
    });
    if (result === 'created') return 'created';
    const there = await this.sha256Of(storeId, seg.file);
    if (there === undefined) throw new StoreError(`archive: ${this.url}/${key} answered "exists" but cannot be found`);
    if (there !== seg.sha256) throw new ArchiveConflictError(this.url, storeId, seg.file, seg.sha256, there);
    return 'already';
  }

  async sha256Of(storeId: string, name: string): Promise<string | undefined> {
    const head = await this.client.headObject(this.bucket, this.key(storeId, name));
    if (!head) return undefined;
    const meta = head.metadata[SHA_META];
    if (meta !== undefined) return meta;
    // Put there by something else: hash its bytes rather than trust its absence of metadata.
    const body = await this.client.getObject(this.bucket, this.key(storeId, name));
    if (!body) return undefined;
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  open(storeId: string, name: string): Promise<Readable | undefined> {
    return this.client.getObject(this.bucket, this.key(storeId, name));
  }

  async putSmall(storeId: string, name: string, bytes: Buffer): Promise<void> {
    await this.client.putObject(this.bucket, this.key(storeId, name), () => bytes, {
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      contentType: 'application/json',
    });
  }
}
