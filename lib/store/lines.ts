import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, read, readSync } from 'node:fs';
import { Readable, Transform, Writable } from 'node:stream';
import { promisify } from 'node:util';
import split2 from 'split2';

const readAsync = promisify(read);

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
  /** Read through this descriptor instead of opening `path` (it stays open). */
  fd?: number;
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

/** Bytes per read of a plain file: ~1300 reads for 1.3 GB instead of ~20000 at the stream default. */
const READ_BLOCK = 1 << 20;
/**
 * About this many bytes per split2 write, cut just after a "\n". V8 grows its
 * young generation with the bytes that survive scavenges, and split2 keeps
 * the unfinished end of each piece (a slice of the whole decoded piece) until
 * the next write: pieces that end on a line boundary leave it nothing to
 * keep, and small ones keep the piece being split small.
 */
const SPLIT_SLICE = 8 << 10;

/** End of the piece of `block` that starts at `from`: just after the last "\n" within SPLIT_SLICE, else the next one. */
function pieceEnd(block: Buffer, from: number): number {
  if (block.length - from <= SPLIT_SLICE) return block.length;
  const back = block.lastIndexOf(0x0a, from + SPLIT_SLICE - 1);
  if (back >= from) return back + 1;
  const ahead = block.indexOf(0x0a, from + SPLIT_SLICE);
  return ahead === -1 ? block.length : ahead + 1;
}

const SMALL_READ = 64 << 10;

type Splitter = ReturnType<typeof split2>;

/**
 * Read buffers kept between scans: a rebuild scans one file per segment, and
 * two fresh 1 MiB buffers per file piled up as garbage until the next major
 * GC (+25 MB peak RSS over 12 segments).
 */
const spareBlocks: Buffer[] = [];
const SPARE_BLOCKS = 4;

function takeBlock(size: number): Buffer {
  return size === READ_BLOCK ? (spareBlocks.pop() ?? Buffer.allocUnsafe(READ_BLOCK)) : Buffer.allocUnsafe(size);
}

function giveBack(buffers: readonly Buffer[]): void {
  for (const b of buffers) if (b.length === READ_BLOCK && spareBlocks.length < SPARE_BLOCKS) spareBlocks.push(b);
}

/**
 * Feed a plain file to split2 in READ_BLOCK reads, the next read already in
 * flight while this block is split and handled: the read wait overlaps the
 * work instead of following it. Two buffers take turns; split2 copies what it
 * decodes, and a block's buffer is read into again only once split2 has
 * taken every slice of it.
 */
async function feedPlain(src: LineSource, start: number, splitter: Splitter, onBytes: (chunk: Buffer) => void): Promise<void> {
  let failed: unknown;
  splitter.on('error', (err) => {
    failed ??= err;
  });
  const fd = src.fd ?? openSync(src.path, 'r');
  const end = src.end;
  const size = end !== undefined ? Math.min(READ_BLOCK, end - start) : READ_BLOCK;
  const buffers = [takeBlock(size), takeBlock(size)];
  const readAt = async (buf: Buffer, at: number): Promise<Buffer> => {
    const len = end !== undefined ? Math.min(buf.length, end - at) : buf.length;
    if (len <= 0) return buf.subarray(0, 0);
    // A run's new bytes are a line or two: a synchronous read beats a thread-pool trip.
    const bytesRead = len <= SMALL_READ ? readSync(fd, buf, 0, len, at) : (await readAsync(fd, buf, 0, len, at)).bytesRead;
    return buf.subarray(0, bytesRead);
  };
  let pos = start;
  let turn = 0;
  let next: Promise<Buffer> | undefined = readAt(buffers[0]!, pos);
  try {
    for (;;) {
      const block: Buffer = await next;
      next = undefined;
      if (block.length === 0) break;
      pos += block.length;
      turn ^= 1;
      next = readAt(buffers[turn]!, pos);
      for (let i = 0; i < block.length; ) {
        const j = pieceEnd(block, i);
        const chunk = block.subarray(i, j);
        onBytes(chunk);
        splitter.write(chunk);
        if (failed) throw failed;
        i = j;
      }
      if (splitter.writableLength > 0) await once(splitter, 'drain');
    }
    await new Promise<void>((resolve, reject) => splitter.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (failed) throw failed;
  } finally {
    if (next) await next.catch(() => undefined);
    if (src.fd === undefined) closeSync(fd);
    giveBack(buffers);
  }
}

/**
 * A file's bytes from the start, read through a descriptor the caller keeps
 * (a stream made on the descriptor would close it when destroyed). Wrapped in
 * Readable.from, the caller closes the descriptor only after closeBlocks.
 */
export async function* readBlocks(fd: number): AsyncGenerator<Buffer> {
  for (let pos = 0; ; ) {
    const buf = Buffer.allocUnsafe(64 << 10);
    const { bytesRead } = await readAsync(fd, buf, 0, buf.length, pos);
    if (bytesRead === 0) return;
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

/** Stop a readBlocks stream and wait until no read of it is in flight. */
export async function closeBlocks(stream: Readable): Promise<void> {
  if (stream.closed) return;
  const closed = new Promise((resolve) => stream.once('close', resolve));
  stream.destroy();
  await closed;
}

/** A FIFO of content offsets, drained as fast as it fills: reused storage, no per-item allocation. */
class OffsetQueue {
  private items: number[] = [];
  private head = 0;

  push(n: number): void {
    this.items.push(n);
  }

  shift(): number | undefined {
    if (this.head === this.items.length) return undefined;
    const n = this.items[this.head++]!;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    return n;
  }
}

export async function scanLines(src: LineSource, onLine: OnLine): Promise<LineScan> {
  const start = src.start ?? 0;
  if (src.end !== undefined && src.end <= start) return { end: start, contentEnd: start, lines: 0 };

  let offset = start;
  let contentEnd = start;
  let lines = 0;
  // A line's byte length comes from the bytes, not from its decoded string:
  // each "\n" byte's content offset is queued before split2 sees the chunk,
  // and split2 hands over exactly one line per "\n", in order. Exact for any
  // bytes (a string's length drifts from them on invalid UTF-8), and no
  // Buffer.byteLength per line.
  const newlines = new OffsetQueue();
  const onContent = (chunk: Buffer) => {
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) newlines.push(contentEnd + i);
    contentEnd += chunk.length;
  };
  // Lines are handled in split2's mapper, in order, instead of being pushed
  // one by one through an object-mode stream: the mapper returns nothing.
  const splitter = split2('\n', (line: string) => {
    const nl = newlines.shift();
    // No "\n" left for it: the bytes after the last one, a torn tail that split2 hands over at the end.
    if (nl === undefined) return undefined;
    const at = offset;
    offset = nl + 1;
    lines++;
    onLine(line, at);
    return undefined;
  });

  if (src.compressed) {
    // zlib and stream/promises cost ~25 ms to load: only a compressed segment needs them,
    // loaded before any stream exists (a 'data' listener starts the flow).
    const [{ pipeline }, { createGunzip }] = await Promise.all([import('node:stream/promises'), import('node:zlib')]);
    const fd = src.fd ?? openSync(src.path, 'r');
    const raw = Readable.from(readBlocks(fd));
    try {
      if (src.tap) raw.on('data', src.tap);
      const content = skipBytes(start);
      content.on('data', onContent);
      const sink = new Writable({ objectMode: true, write: (_line, _enc, cb) => cb() });
      await pipeline(raw, createGunzip(), content, splitter, sink);
    } finally {
      // A failed pipeline rejects before a read in flight lands: the descriptor must outlive it.
      await closeBlocks(raw);
      if (src.fd === undefined) closeSync(fd);
    }
  } else {
    const tap = src.tap;
    await feedPlain(src, start, splitter, tap ? (chunk) => (tap(chunk), onContent(chunk)) : onContent);
  }
  return { end: offset, contentEnd, lines };
}

/** Line statistics and checksum of one whole file, in one pass. */
export interface FileSummary extends LineScan {
  sha256: string;
  storedBytes: number;
  firstRecordedAt: string | null;
  lastRecordedAt: string | null;
  /** Earliest and latest `recorded_at` as times (ISO, UTC ms): lines out of order make them differ from first/last. */
  minRecordedAt: string | null;
  maxRecordedAt: string | null;
}

/**
 * A line's `recorded_at` when it is a string. Without the text "recorded_at"
 * or a backslash-u escape (which could spell it), no JSON object can hold
 * that key, so such lines are not parsed.
 */
export function recordedAtOf(line: string): string | null {
  if (!line.includes('recorded_at') && !line.includes('\\u')) return null;
  try {
    const v = (JSON.parse(line) as Record<string, unknown> | null)?.['recorded_at'];
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** A `recorded_at` value as a time (ms since the epoch), or undefined when Date.parse refuses it. */
export function timeOf(recordedAt: string | null): number | undefined {
  if (recordedAt === null) return undefined;
  const ms = Date.parse(recordedAt);
  return Number.isFinite(ms) ? ms : undefined;
}

export async function summarizeFile(
  path: string,
  compressed: boolean,
  opts: { fd?: number; end?: number; onLine?: OnLine } = {},
): Promise<FileSummary> {
  const hash = createHash('sha256');
  let storedBytes = 0;
  let first: string | null = null;
  let last: string | null = null;
  let min = Infinity;
  let max = -Infinity;
  const scan = await scanLines(
    {
      path,
      compressed,
      ...(opts.fd !== undefined ? { fd: opts.fd } : {}),
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
      const ms = timeOf(at);
      if (ms !== undefined) {
        if (ms < min) min = ms;
        if (ms > max) max = ms;
      }
      opts.onLine?.(line, offset);
    },
  );
  const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);
  return { ...scan, sha256: hash.digest('hex'), storedBytes, firstRecordedAt: first, lastRecordedAt: last, minRecordedAt: iso(min), maxRecordedAt: iso(max) };
}

/** Complete lines of a text and the torn rest after the last "\n". */
export function splitCompleteLines(text: string): { lines: string[]; rest: string } {
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  return { lines, rest };
}
