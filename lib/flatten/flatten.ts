import { createReadStream, createWriteStream, lstatSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { dropAllCheckpoints } from '../aggregate/checkpoint.js';
import { StoreError } from '../errors.js';
import { fsyncDir, fsyncFile, unlinkIfExists } from '../store/files.js';
import { fileSystem, finishFlatten, openSegment, refuseStoreSymlinks, scanSegmentsDir, Store, writeJournal, type StoreOptions } from '../store/store.js';

export interface FlattenResult {
  /** Sealed segment files written back into metrics.json, in order (now deleted). */
  segments: string[];
  /** Lines metrics.json holds now. */
  lines: number;
  bytes: number;
  /** Segments before this seq were deleted by retention: only retained-base.json holds them. */
  missingBefore: number | undefined;
  /** Checkpoints dropped: the next aggregate rebuilds. */
  droppedCheckpoints: string[];
}

/** Counts lines and bytes as they pass. */
function counter(): Transform & { lines: number; bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) t.lines++;
      t.bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { lines: number; bytes: number };
  t.lines = 0;
  t.bytes = 0;
  return t;
}

/**
 * The way back to the orchestrator's single file: every sealed segment in seq
 * order (gzip too), then the active file, written into one metrics.json that
 * the old recorder and aggregator read, each line exactly once. Holds the
 * aggregate lock (no pass reads meanwhile) and the writer lock (no append,
 * seal or merge meanwhile). Crash-safe through a journal: see flatten-journal.ts.
 */
export async function flatten(options: StoreOptions | string = {}): Promise<FlattenResult> {
  const store = await Store.open(options);
  const { paths, log } = store.context;
  refuseStoreSymlinks(paths);
  return store.withAggregateLock('flatten', async () => {
    const done = await store.writer(async (session) => {
      // prepare() ended or quarantined the torn tail and merged spills: the active file ends in "\n".
      await session.end();
      const dir = await scanSegmentsDir(paths);
      const segments = dir.segments;
      const firstSeq = segments[0]?.seq;
      const missingBefore = firstSeq !== undefined && firstSeq > 1 ? firstSeq : undefined;
      const temp = `.metrics-${String(segments.at(-1)?.seq ?? 0).padStart(8, '0')}-flatten.jsonl.tmp`;
      const tempPath = join(paths.segments, temp);
      // Under both locks no other flatten runs: a temp of this name is a killed one's, never journaled.
      await unlinkIfExists(tempPath, 'flatten');
      const count = counter();
      const out = createWriteStream(tempPath, { flags: 'wx' });
      const sink = count.pipe(out);
      const feed = async (open: () => { fd: number; compressed: boolean }) => {
        const { fd, compressed } = open();
        const raw = createReadStream('', { fd, autoClose: true });
        if (compressed) await pipeline(raw, createGunzip(), count, { end: false });
        else await pipeline(raw, count, { end: false });
      };
      try {
        for (const s of segments) await feed(() => openSegment(paths, s));
        await feed(() => {
          const fd = session.openActiveForRead();
          return { fd, compressed: false };
        });
        count.end();
        await new Promise<void>((resolve, reject) => sink.on('finish', resolve).on('error', reject));
        if (lstatSync(tempPath).size !== count.bytes) throw new StoreError('flatten: the temp file is not the size written');
      } catch (err) {
        out.destroy();
        await unlinkIfExists(tempPath, 'flatten');
        throw err;
      }
      fsyncFile(tempPath, 'flatten');
      fileSystem().step('flatten:written');
      writeJournal(paths, { version: 1, temp, segments: segments.map((s) => s.file) });
      fileSystem().step('flatten:journaled');
      await rename(tempPath, paths.active);
      fsyncDir(paths.segments, 'flatten');
      fsyncDir(paths.root, 'flatten');
      fileSystem().step('flatten:renamed');
      await finishFlatten(paths, { version: 1, temp, segments: segments.map((s) => s.file) }, log);
      return { segments: segments.map((s) => s.file), lines: count.lines, bytes: count.bytes, missingBefore };
    });
    const droppedCheckpoints = await dropAllCheckpoints(paths);
    if (done.value.missingBefore !== undefined) {
      log.warn({ missingBefore: done.value.missingBefore }, `flatten: segments before ${done.value.missingBefore} were deleted by retention; their entries are only in metrics/retained-base.json, which the old aggregator cannot read`);
    }
    return { ...done.value, droppedCheckpoints };
  });
}
