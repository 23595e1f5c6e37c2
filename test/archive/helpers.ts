import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSegmentName, storePaths } from '../../lib/store/names.js';
import { readStoreFile } from '../../lib/store/identity.js';
import { runEntry } from '../helpers/cli.js';
import { openRecorder } from '../helpers/store.js';
import type { S3Server } from '../helpers/s3-server.js';

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * A store with plain segments, then gzip ones, then an active tail:
 * `segments` sealed in all, `linesPer` entries each, entries `pad` bytes
 * bigger than usual (to give a copy something to do).
 */
export async function buildStore(root: string, opts: { segments?: number; linesPer?: number; pad?: number; from?: number } = {}): Promise<string> {
  const segments = opts.segments ?? 6;
  const linesPer = opts.linesPer ?? 4;
  const from = opts.from ?? 0;
  const pad = opts.pad ? { pad: 'x'.repeat(opts.pad) } : {};
  let n = from;
  for (const compress of ['none', 'gzip'] as const) {
    const rec = await openRecorder(root, { maxLines: linesPer, compress, fsync: 'never' });
    const count = compress === 'none' ? Math.ceil(segments / 2) : Math.floor(segments / 2);
    for (let s = 0; s < count; s++) {
      const batch = [];
      for (let i = 0; i < linesPer; i++) batch.push(runEntry(n++, pad));
      await rec.append(batch);
    }
    if (compress === 'gzip') await rec.append([runEntry(n++, pad)]);
    await rec.close();
  }
  return storeIdOf(root);
}

export function storeIdOf(root: string): string {
  const f = readStoreFile(storePaths(root));
  if (typeof f !== 'object') throw new Error(`no store.json in ${root}`);
  return f.storeId;
}

/** Sealed segment files of a store, name -> bytes, read directly. */
export async function localSegments(root: string): Promise<Map<string, Buffer>> {
  const dir = storePaths(root).segments;
  const out = new Map<string, Buffer>();
  for (const f of (await readdir(dir)).sort()) if (parseSegmentName(f)) out.set(f, await readFile(join(dir, f)));
  return out;
}

/** One archive under test, read and tampered with past the library. */
export interface ArchiveUnderTest {
  url: string;
  env: Record<string, string>;
  /** Every object under <storeId>/, name -> bytes (temp files of a directory archive excluded: hidden). */
  objects(storeId: string): Promise<Map<string, Buffer>>;
  /** Every name under <storeId>/, hidden ones too. */
  names(storeId: string): Promise<string[]>;
  replace(storeId: string, name: string, bytes: Buffer): Promise<void>;
}

export function dirArchive(path: string): ArchiveUnderTest {
  return {
    url: path,
    env: {},
    async names(storeId) {
      return (await readdir(join(path, storeId)).catch(() => [] as string[])).sort();
    },
    async objects(storeId) {
      const out = new Map<string, Buffer>();
      for (const f of await this.names(storeId)) if (!f.startsWith('.')) out.set(f, await readFile(join(path, storeId, f)));
      return out;
    },
    async replace(storeId, name, bytes) {
      await writeFile(join(path, storeId, name), bytes);
    },
  };
}

export function s3Archive(server: S3Server, bucket: string, prefix: string): ArchiveUnderTest {
  const key = (storeId: string, name: string) => `${prefix}/${storeId}/${name}`;
  return {
    url: `s3://${bucket}/${prefix}`,
    env: server.env,
    async names(storeId) {
      const out: string[] = [];
      for await (const o of server.client.listObjects(bucket, `${prefix}/${storeId}/`)) out.push(o.key.slice(`${prefix}/${storeId}/`.length));
      return out.sort();
    },
    async objects(storeId) {
      const out = new Map<string, Buffer>();
      for (const name of await this.names(storeId)) {
        const chunks: Buffer[] = [];
        for await (const c of (await server.client.getObject(bucket, key(storeId, name)))!) chunks.push(c as Buffer);
        out.set(name, Buffer.concat(chunks));
      }
      return out;
    },
    async replace(storeId, name, bytes) {
      await server.client.putObject(bucket, key(storeId, name), () => bytes, { sha256: sha256(bytes), size: bytes.length });
    },
  };
}
