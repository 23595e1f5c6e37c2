import { createHash } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { knownStoreId, type ExternalSegment, type StoreContext } from '../store/store.js';
import { openArchive, readArchivedCatalogue } from './archiver.js';
import { archivedIn, readRecord } from './record.js';
import type { ArchiveTarget } from './target.js';

/**
 * Download one archived segment to `dest` while hashing it; a copy whose
 * sha256 is not the expected one is an error before a line of it is read.
 */
async function fetchVerified(target: ArchiveTarget, storeId: string, file: string, sha256: string, dest: string): Promise<void> {
  const body = await target.open(storeId, file);
  if (!body) throw new StoreError(`archive ${target.url}: ${storeId}/${file} is listed in its catalogue but not there`);
  const hash = createHash('sha256');
  const out = await open(dest, 'wx');
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      hash.update(b);
      for (let done = 0; done < b.length; ) done += (await out.write(b, done, b.length - done)).bytesWritten;
    }
  } finally {
    await out.close();
  }
  const got = hash.digest('hex');
  if (got !== sha256) throw new StoreError(`archive ${target.url}: ${storeId}/${file} does not match its sha256 (${got} != ${sha256}): refusing to rebuild from it`);
}

/**
 * The segments `fromSeq`..`throughSeq` that retention deleted here, as the
 * archive holds them: every seq must be there (a gap would silently change
 * the outputs), each read through a checked local copy.
 */
export async function archivedRange(ctx: StoreContext, fromSeq: number, throughSeq: number, env: NodeJS.ProcessEnv = process.env): Promise<ExternalSegment[]> {
  const loc = ctx.config.archive;
  if (!loc) throw new StoreError('no archive configured');
  const storeId = await knownStoreId(ctx.paths);
  if (storeId === undefined) throw new StoreError('the store has no storeId: its archive cannot be found');
  const target = await openArchive(ctx, loc, env);
  const catalogue = await readArchivedCatalogue(target, storeId);
  const bySeq = new Map((catalogue?.segments ?? []).map((r) => [r.seq, r]));
  const record = archivedIn(readRecord(ctx.paths), loc.url, storeId);
  const out: ExternalSegment[] = [];
  for (let seq = fromSeq; seq <= throughSeq; seq++) {
    const rec = bySeq.get(seq);
    if (!rec) {
      throw new StoreError(`segment ${seq} was deleted by retention and is not in the archive ${loc.url}/${storeId} (${catalogue ? 'not in its catalogue' : 'no catalogue there'}): the history before it cannot be read again`);
    }
    // What this store confirmed it archived wins over what the archive's catalogue says now.
    const sha256 = record.get(rec.file) ?? rec.sha256;
    out.push({
      seq,
      file: rec.file,
      compressed: rec.file.endsWith('.gz'),
      async fetch() {
        const dir = await mkdtemp(join(tmpdir(), 'codex-metrics-archived-'));
        const release = () => rm(dir, { recursive: true, force: true });
        try {
          const path = join(dir, rec.file);
          await fetchVerified(target, storeId, rec.file, sha256, path);
          return { path, release };
        } catch (err) {
          await release();
          throw err;
        }
      },
    });
  }
  ctx.log.info({ archive: loc.url, from: fromSeq, through: throughSeq }, 'aggregate: reading segments retention deleted from the archive');
  return out;
}
