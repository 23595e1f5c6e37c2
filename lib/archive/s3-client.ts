import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { EMPTY_SHA256, signV4, uriEncode, type Credentials } from './sigv4.js';

/**
 * Just the S3 the archive needs (PUT, HEAD, GET, LIST), path-style, signed
 * with SigV4 over node:http(s): no SDK to load on the CLI's start-up path.
 */
export interface S3Options {
  /** Base URL, e.g. http://127.0.0.1:7480 (path-style: /<bucket>/<key> under it). */
  endpoint: string;
  region: string;
  credentials: Credentials;
  /** Per-request idle timeout. */
  timeoutMs?: number;
  /** Attempts for a request that failed in a way worth repeating (network, 5xx, 409). */
  attempts?: number;
  now?: () => Date;
  /** Aborts every request in flight and every later one (a bounded archive run). */
  signal?: AbortSignal | undefined;
}

export class S3Error extends Error {
  override readonly name = 'S3Error';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface HeadResult {
  size: number;
  /** x-amz-meta-* headers, names without the prefix. */
  metadata: Record<string, string>;
}

interface Req {
  method: 'GET' | 'PUT' | 'HEAD';
  bucket: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Made afresh for every attempt (a stream is used up by one). */
  body?: () => Readable | Buffer;
  bodySha256?: string;
  bodyLength?: number;
  /** A 409 that is an answer (bucket creation), not a conflict to wait out. */
  conflictIsAnswer?: boolean;
}

/** Statuses that say "try again", not "no". */
function retryable(status: number): boolean {
  return status === 409 || status === 500 || status === 502 || status === 503 || status === 504;
}

const NETWORK_RETRY = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ESOCKETTIMEDOUT']);

export function credentialsFromEnv(env: NodeJS.ProcessEnv): Credentials | undefined {
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env['AWS_SESSION_TOKEN'] || undefined };
}

function xmlText(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    if (e === 'amp') return '&';
    return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? xmlText(m[1]!) : undefined;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class S3Client {
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly now: () => Date;

  constructor(private readonly opts: S3Options) {
    this.base = new URL(opts.endpoint);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new S3Error(`S3 endpoint must be an http(s) URL: ${opts.endpoint}`, undefined, undefined);
    }
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.attempts = opts.attempts ?? 4;
    this.now = opts.now ?? (() => new Date());
  }

  private path(bucket: string, key?: string): string {
    const prefix = this.base.pathname.replace(/\/+$/, '');
    return `${prefix}/${uriEncode(bucket)}${key !== undefined ? `/${uriEncode(key, true)}` : ''}`;
  }

  /** One attempt; resolves with the response still streaming. */
  private once(req: Req): Promise<IncomingMessage> {
    const path = this.path(req.bucket, req.key);
    const query = req.query ?? {};
    const qs = Object.entries(query).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
    const headers = signV4({
      method: req.method,
      path,
      query,
      headers: {
        host: this.base.host,
        ...(req.bodyLength !== undefined ? { 'content-length': String(req.bodyLength) } : {}),
        ...req.headers,
      },
      payloadSha256: req.bodySha256 ?? EMPTY_SHA256,
      region: this.opts.region,
      service: 's3',
      credentials: this.opts.credentials,
      now: this.now(),
    });
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = send(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port || undefined,
          method: req.method,
          path: qs ? `${path}?${qs}` : path,
          headers,
          timeout: this.timeoutMs,
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        },
        resolve,
      );
      r.on('timeout', () => r.destroy(Object.assign(new Error(`S3 ${req.method} timed out after ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      r.on('error', reject);
      const body = req.body?.();
      if (body === undefined) r.end();
      else if (Buffer.isBuffer(body)) r.end(body);
      else {
        body.on('error', (err) => r.destroy(err));
        body.pipe(r);
      }
    });
  }

  /**
   * With retries for what is worth repeating; resolves with the response of
   * the last attempt (any status), its body unread.
   */
  private async send(req: Req): Promise<IncomingMessage> {
    for (let attempt = 1; ; attempt++) {
      let res: IncomingMessage;
      try {
        res = await this.once(req);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (attempt < this.attempts && code !== undefined && NETWORK_RETRY.has(code) && !this.opts.signal?.aborted) {
          await sleep(100 * 2 ** attempt);
          continue;
        }
        throw new S3Error(`S3 ${req.method} ${this.path(req.bucket, req.key)}: ${(err as Error).message}`, undefined, code);
      }
      const status = res.statusCode ?? 0;
      if (attempt < this.attempts && retryable(status) && !(status === 409 && req.conflictIsAnswer)) {
        res.resume();
        await sleep(100 * 2 ** attempt);
        continue;
      }
      return res;
    }
  }

  private async fail(req: Req, res: IncomingMessage): Promise<never> {
    const body = req.method === 'HEAD' ? '' : (await readAll(res)).toString('utf8');
    const code = tag(body, 'Code');
    const message = tag(body, 'Message');
    throw new S3Error(
      `S3 ${req.method} ${this.path(req.bucket, req.key)}: HTTP ${res.statusCode}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`,
      res.statusCode,
      code,
    );
  }

  /**
   * PUT an object. With `ifNoneMatch` it is created only if absent: resolves
   * 'exists' on 412 (or 304 from older servers), never overwrites.
   */
  async putObject(
    bucket: string,
    key: string,
    body: () => Readable | Buffer,
    opts: { sha256: string; size: number; ifNoneMatch?: boolean; metadata?: Record<string, string>; contentType?: string },
  ): Promise<'created' | 'exists'> {
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/octet-stream' };
    if (opts.ifNoneMatch) headers['if-none-match'] = '*';
    for (const [k, v] of Object.entries(opts.metadata ?? {})) headers[`x-amz-meta-${k}`] = v;
    const req: Req = { method: 'PUT', bucket, key, headers, body, bodySha256: opts.sha256, bodyLength: opts.size };
    const res = await this.send(req);
    const status = res.statusCode ?? 0;
    if (status === 200 || status === 201) {
      res.resume();
      return 'created';
    }
    if (opts.ifNoneMatch && (status === 412 || status === 304)) {
      res.resume();
      return 'exists';
    }
    return this.fail(req, res);
  }

  /** The object's size and metadata, or undefined when there is none. */
  async headObject(bucket: string, key: string): Promise<HeadResult | undefined> {
    const req: Req = { method: 'HEAD', bucket, key };
    const res = await this.send(req);
    res.resume();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) return this.fail(req, res);
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice('x-amz-meta-'.length)] = v;
    }
    return { size: Number(res.headers['content-length'] ?? 0), metadata };
  }

  /** The object's bytes as a stream; undefined when there is none. */
  async getObject(bucket: string, key: string): Promise<Readable | undefined> {
    const req: Req = { method: 'GET', bucket, key };
    const res = await this.send(req);
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) return this.fail(req, res);
    return res;
  }

  /** Every key under a prefix, with its size, in key order. */
  async *listObjects(bucket: string, prefix: string, pageSize = 1000): AsyncGenerator<{ key: string; size: number }> {
    let token: string | undefined;
    do {
      const query: Record<string, string> = { 'list-type': '2', prefix, 'max-keys': String(pageSize) };
      if (token !== undefined) query['continuation-token'] = token;
      const req: Req = { method: 'GET', bucket, query };
      const res = await this.send(req);
      if (res.statusCode !== 200) await this.fail(req, res);
      const xml = (await readAll(res)).toString('utf8');
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        yield { key: tag(m[1]!, 'Key') ?? '', size: Number(tag(m[1]!, 'Size') ?? 0) };
      }
      token = tag(xml, 'IsTruncated') === 'true' ? tag(xml, 'NextContinuationToken') : undefined;
    } while (token !== undefined);
  }

  /** Create a bucket (tests and first use); an existing one of ours is fine. */
  async createBucket(bucket: string): Promise<void> {
    const req: Req = { method: 'PUT', bucket, body: () => Buffer.alloc(0), bodySha256: EMPTY_SHA256, bodyLength: 0, conflictIsAnswer: true };
    const res = await this.send(req);
    if (res.statusCode === 200) {
      res.resume();
      return;
    }
    const body = (await readAll(res)).toString('utf8');
    if (res.statusCode === 409 && tag(body, 'Code') === 'BucketAlreadyOwnedByYou') return;
    throw new S3Error(`S3 create bucket ${bucket}: HTTP ${res.statusCode} ${tag(body, 'Code') ?? ''}`.trim(), res.statusCode, tag(body, 'Code'));
  }
}
