import { createHash } from 'node:crypto';
import { closeSync, createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { diskFullAs, ifExists, ifExistsSync } from '../errors.js';
import type { Logger } from '../log.js';
import type { Config } from '../config.js';
import type { Clock } from './clock.js';
import { createExclusive, fsyncDir, fsyncFile, unlinkIfExists, writeAll } from './files.js';
import { fileSystem } from './fs-env.js';
import { summarizeFile } from './lines.js';
import { segmentFileName, type StorePaths } from './names.js';
import { raiseSeqFloor } from './identity.js';
import { loadIndex, writeIndex, type SegmentRecord } from './segment-index.js';

/**
 * Seal the active file as the next segment. Caller holds the writer lock and
 * has already moved any torn tail away, so the file ends in "\n". Sealing is
 * a rename: a reader's cursor into the active file stays valid. Compression
 * writes the .gz beside it and removes the plain file only once the .gz is in
 * place; a crash in between leaves twins that loadIndex resolves.
 */
export async function sealActive(paths: StorePaths, config: Config, log: Logger, reason: string, clock: Clock): Promise<SegmentRecord | undefined> {
  const st = await ifExists(() => lstat(paths.active));
  if (!st || st.size === 0) return undefined;
  const durable = config.fsync !== 'never';
  const { index } = await loadIndex(paths, { log, persist: true, fsync: durable });
  const seq = index.lastSeq + 1;
  let entries = 0;
  const summary = await summarizeFile(paths.active, false, {
    onLine: (line) => {
      if (line.trim() !== '') entries++;
    },
  });
  // Blank lines are not entries: an active file of nothing else is as empty as an empty one.
  if (entries === 0) return undefined;
  const sealedAtMs = clock.now();
  const plain = segmentFileName(seq, sealedAtMs, false);
  const plainPath = join(paths.segments, plain);
  const fs = fileSystem();
  if (durable) fsyncFile(paths.active, 'seal');
  fs.rename(paths.active, plainPath, 'seal');
  if (durable) {
    fsyncDir(paths.segments, 'seal');
    fsyncDir(paths.root, 'seal');
  }
  fs.step('seal:renamed');
  let file = plain;
  let storedBytes = summary.storedBytes;
  let sha256 = summary.sha256;
  let compressed = false;
  if (config.compress === 'gzip') {
    try {
      ({ storedBytes, sha256 } = await compress(paths, plainPath, durable));
      file = `${plain}.gz`;
      compressed = true;
    } catch (err) {
      // The plain segment is complete and sealed: keep it, uncompressed, rather than leave it out of the index.
      log.warn({ seq, file: plain, err: (err as Error).message }, 'could not compress a sealed segment; kept it uncompressed');
    }
  }
  const record: SegmentRecord = {
    seq,
    file,
    compressed,
    lines: summary.lines,
    bytes: summary.end,
    storedBytes,
    sha256,
    firstRecordedAt: summary.firstRecordedAt,
    lastRecordedAt: summary.lastRecordedAt,
    minRecordedAt: summary.minRecordedAt,
    maxRecordedAt: summary.maxRecordedAt,
    sealedAt: new Date(sealedAtMs).toISOString(),
  };
  try {
    writeIndex(paths, { ...index, lastSeq: seq, segments: [...index.segments, record] }, durable);
  } catch (err) {
    if (compressed) throw err;
    // Undo: nothing else can have made a metrics.json while we hold the lock, and the
    // seq was never promised, so the store is as it was before this seal.
    fs.rename(plainPath, paths.active, 'seal');
    if (durable) fsyncDir(paths.root, 'seal');
    throw err;
  }
  raiseSeqFloor(paths, seq, durable);
  log.info({ seq, file, lines: record.lines, bytes: record.bytes, reason }, 'sealed segment');
  return record;
}

/**
 * Write `<plain>.gz` beside the sealed plain segment, then remove the plain
 * one: the .gz is renamed into place only once complete, so a crash leaves
 * twins that loadIndex resolves. On failure its temp is removed. Returns the
 * compressed size and sha256, hashed as the bytes are written.
 */
async function compress(paths: StorePaths, plainPath: string, durable: boolean): Promise<{ storedBytes: number; sha256: string }> {
  const fs = fileSystem();
  const gzPath = `${plainPath}.gz`;
  const tmp = join(paths.segments, `.${basename(gzPath)}.tmp`);
  const hash = createHash('sha256');
  let storedBytes = 0;
  // Loaded only to compress: a plain seal (and every record) starts without zlib.
  const [{ pipeline }, { createGzip }] = await Promise.all([import('node:stream/promises'), import('node:zlib')]);
  const fd = createExclusive(tmp, 'gzip');
  try {
    try {
      await pipeline(createReadStream(plainPath), createGzip(), async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          writeAll(fd, chunk, 'gzip');
          hash.update(chunk);
          storedBytes += chunk.length;
        }
      });
      if (durable) fs.fsync(fd, 'gzip');
    } finally {
      closeSync(fd);
    }
    fs.rename(tmp, gzPath, 'gzip');
  } catch (err) {
    ifExistsSync(() => fs.unlink(tmp, 'gzip'));
    throw diskFullAs(gzPath, err);
  }
  if (durable) fsyncDir(paths.segments, 'gzip');
  fs.step('seal:gzipped');
  await unlinkIfExists(plainPath, 'gzip');
  return { storedBytes, sha256: hash.digest('hex') };
}
