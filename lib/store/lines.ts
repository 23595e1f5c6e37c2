import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import split2 from 'split2';

/**
 * The one place a file becomes lines: a byte stream (gunzipped when the
 * segment is compressed) split by split2, each complete line handed over with
 * the content offset it starts at. Bytes after the last "\n" are never handed
 * over: they are a torn tail, reported through `end < contentEnd`.
 */
export interface LineSource {
  path: string;
  compressed: boolean;
  /** Content offset to start at; always a line boundary. */
  start?: number;
  /** Plain files only: stop before this content offset (a snapshot of a growing file). */
  end?: number;
  /** Read through this handle instead of opening `path` (it stays open). */
  handle?: FileHandle;
  /** Sees every stored byte, e.g. to checksum the file. */
  tap?: (chunk: Buffer) => void;
}

export interface LineScan {
  /** Content offset just after the last complete line. */
  end: number;
  /** Content offset where the content stopped (end + torn bytes). */
  contentEnd: number;
  /** Complete lines handed over. */
  lines: number;
}

export type OnLine = (line: string, offset: number) => void;

/** Drops the first `n` bytes of a stream: gzip content has no random access. */
function skipBytes(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left >= chunk.length) {
        left -= chunk.length;
        return cb();
      }
      const rest = left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
      cb(null, rest);
    },
  });
}

export async function scanLines(src: LineSource, onLine: OnLine): Promise<LineScan> {
  const start = src.start ?? 0;
  if (src.end !== undefined && src.end <= start) return { end: start, contentEnd: start, lines: 0 };
  const range = src.compressed ? {} : { start, ...(src.end !== undefined ? { end: src.end - 1 } : {}) };
  const raw: Readable = src.handle
    ? src.handle.createReadStream({ ...range, autoClose: false })
    : createReadStream(src.path, range);
  if (src.tap) raw.on('data', src.tap);

  let offset = start;
  let contentEnd = start;
  let lines = 0;
  // split2 also hands over the piece after the last "\n"; holding each line
  // back one step lets the byte count decide at the end whether it was complete.
  let held: string | undefined;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      contentEnd += chunk.length;
      cb(null, chunk);
    },
  });
  const sink = new Writable({
    objectMode: true,
    write(line: string, _enc, cb) {
      if (held !== undefined) emit(held);
      held = line;
      cb();
    },
  });
  function emit(line: string): void {
    const at = offset;
    offset += Buffer.byteLength(line) + 1;
    lines++;
    onLine(line, at);
  }
  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [raw];
  if (src.compressed) stages.push(createGunzip(), skipBytes(start));
  stages.push(counter, split2('\n'), sink);
  await (pipeline as (streams: ReadonlyArray<NodeJS.ReadableStream | NodeJS.WritableStream>) => Promise<void>)(stages);
  if (held !== undefined && offset + Buffer.byteLength(held) + 1 <= contentEnd) emit(held);
  return { end: offset, contentEnd, lines };
}

/** Line statistics and checksum of one whole file, in one pass. */
export interface FileSummary extends LineScan {
  sha256: string;
  storedBytes: number;
  firstRecordedAt: string | null;
  lastRecordedAt: string | null;
}

export function recordedAtOf(line: string): string | null {
  if (!line.includes('"recorded_at"')) return null;
  try {
    const v = (JSON.parse(line) as Record<string, unknown>)['recorded_at'];
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

export async function summarizeFile(
  path: string,
  compressed: boolean,
  opts: { handle?: FileHandle; end?: number; onLine?: OnLine } = {},
): Promise<FileSummary> {
  const hash = createHash('sha256');
  let storedBytes = 0;
  let first: string | null = null;
  let last: string | null = null;
  const scan = await scanLines(
    {
      path,
      compressed,
      ...(opts.handle ? { handle: opts.handle } : {}),
      ...(opts.end !== undefined ? { end: opts.end } : {}),
      tap: (chunk) => {
        hash.update(chunk);
        storedBytes += chunk.length;
      },
    },
    (line, offset) => {
      const at = recordedAtOf(line);
      if (at !== null) {
        first ??= at;
        last = at;
      }
      opts.onLine?.(line, offset);
    },
  );
  return { ...scan, sha256: hash.digest('hex'), storedBytes, firstRecordedAt: first, lastRecordedAt: last };
}

/** Complete lines of a text and the torn rest after the last "\n". */
export function splitCompleteLines(text: string): { lines: string[]; rest: string } {
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  return { lines, rest };
}
