import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ifExists } from '../errors.js';
import { faultPoint } from '../faults.js';
import type { Logger } from '../log.js';
import type { Config } from '../config.js';
import type { Clock } from './clock.js';
import { fsyncDir, fsyncFile, unlinkIfExists } from './files.js';
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
  if (durable) fsyncFile(paths.active);
  await rename(paths.active, join(paths.segments, plain));
  if (durable) {
    fsyncDir(paths.segments);
    fsyncDir(paths.root);
  }
  faultPoint('seal:renamed');
  let file = plain;
  let storedBytes = summary.storedBytes;
  let sha256 = summary.sha256;
  if (config.compress === 'gzip') {
    file = `${plain}.gz`;
    const tmp = join(paths.segments, `.${file}.tmp`);
    // Checksum the compressed bytes as they are written, rather than reading the .gz back.
    const hash = createHash('sha256');
    let gzBytes = 0;
    // Loaded only to compress: a plain seal (and every record) starts without zlib.
    const [{ pipeline }, { createGzip }] = await Promise.all([import('node:stream/promises'), import('node:zlib')]);
    const gzip = createGzip().on('data', (chunk: Buffer) => {
      hash.update(chunk);
      gzBytes += chunk.length;
    });
    await pipeline(createReadStream(join(paths.segments, plain)), gzip, createWriteStream(tmp, { flags: 'wx' }));
    if (durable) fsyncFile(tmp);
    await rename(tmp, join(paths.segments, file));
    if (durable) fsyncDir(paths.segments);
    faultPoint('seal:gzipped');
    await unlinkIfExists(join(paths.segments, plain));
    storedBytes = gzBytes;
    sha256 = hash.digest('hex');
  }
  const record: SegmentRecord = {
    seq,
    file,
    compressed: config.compress === 'gzip',
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
  writeIndex(paths, { ...index, lastSeq: seq, segments: [...index.segments, record] }, durable);
  raiseSeqFloor(paths, seq, durable);
  log.info({ seq, file, lines: record.lines, bytes: record.bytes, reason }, 'sealed segment');
  return record;
}

