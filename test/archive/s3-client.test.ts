import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { S3Client, S3Error } from '../../lib/archive/s3-client.js';
import { useS3Server } from '../helpers/s3-server.js';

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('S3 client against a real RADOS Gateway', function () {
  const s3 = useS3Server();
  const bucket = 'client-test';

  before(async function () {
    if (s3.server) await s3.server.client.createBucket(bucket);
  });

  it('creates an object once: a second conditional PUT is told it exists and changes nothing', async () => {
    const c = s3.server!.client;
    const first = randomBytes(300_000);
    const second = randomBytes(1000);
    expect(await c.putObject(bucket, 'store/a b+c.jsonl', () => Readable.from([first]), { sha256: sha(first), size: first.length, ifNoneMatch: true, metadata: { sha256: sha(first) } })).to.equal('created');
    expect(await c.putObject(bucket, 'store/a b+c.jsonl', () => second, { sha256: sha(second), size: second.length, ifNoneMatch: true, metadata: { sha256: sha(second) } })).to.equal('exists');
    const head = await c.headObject(bucket, 'store/a b+c.jsonl');
    expect(head).to.deep.equal({ size: first.length, metadata: { sha256: sha(first) } });
    expect(sha(await bytesOf((await c.getObject(bucket, 'store/a b+c.jsonl'))!))).to.equal(sha(first));
  });

  it('answers undefined for an object that is not there', async () => {
    const c = s3.server!.client;
    expect(await c.headObject(bucket, 'nope/nothing')).to.equal(undefined);
    expect(await c.getObject(bucket, 'nope/nothing')).to.equal(undefined);
  });

  it('lists every key under a prefix across pages', async () => {
    const c = s3.server!.client;
    const body = Buffer.from('x\n');
    for (let i = 0; i < 5; i++) await c.putObject(bucket, `list/k${i}`, () => body, { sha256: sha(body), size: body.length });
    const keys: string[] = [];
    for await (const o of c.listObjects(bucket, 'list/', 2)) keys.push(o.key);
    expect(keys).to.deep.equal(['list/k0', 'list/k1', 'list/k2', 'list/k3', 'list/k4']);
  });

  it('overwrites with a plain PUT (the catalogue) and refuses a wrong secret with the server\'s code', async () => {
    const c = s3.server!.client;
    const a = Buffer.from('{"a":1}');
    const b = Buffer.from('{"b":2}');
    await c.putObject(bucket, 'cat/index.json', () => a, { sha256: sha(a), size: a.length });
    await c.putObject(bucket, 'cat/index.json', () => b, { sha256: sha(b), size: b.length });
    expect((await bytesOf((await c.getObject(bucket, 'cat/index.json'))!)).toString()).to.equal('{"b":2}');
    const wrong = new S3Client({ endpoint: s3.server!.endpoint, region: 'us-east-1', credentials: { accessKeyId: s3.server!.env['AWS_ACCESS_KEY_ID']!, secretAccessKey: 'wrong' } });
    const err = await wrong.headObject(bucket, 'cat/index.json').then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(S3Error);
    expect((err as S3Error).status).to.equal(403);
  });
});
