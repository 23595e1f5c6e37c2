import { lstat, open, readdir, readFile, rename, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { constants as zlibConstants, createInflateRaw, gzipSync } from 'node:zlib';
import { classifyLine } from '../aggregate/classify.js';
import { dropAllCheckpoints } from '../aggregate/checkpoint.js';
import { ifExists, StoreError } from '../errors.js';
import { fsyncDir, quarantine, unlinkIfExists } from '../store/files.js';
import {
  ACTIVE_FILE,
  completeTailOf,
  FLATTEN_FILE,
  flattenJournalPath,
  listPending,
  describeSegment,
  identityOf,
  INDEX_FILE,
  newIdentity,
  parseSegmentName,
  readIndex,
  scanSegmentsDir,
  seqFloor,
  splitCompleteLines,
  Store,
  STORE_FILE,
  summarizeFile,
  writeIndex,
  type SegmentName,
  type SegmentRecord,
  type StoreContext,
  type StoreOptions,
} from '../store/store.js';

export type Severity = 'error' | 'warning';

export interface VerifyProblem {
  file: string;
  kind: string;
  detail: string;
  severity: Severity;
}

export interface VerifyResult {
  /** No errors (warnings may remain). */
  ok: boolean;
  problems: VerifyProblem[];
  /** What --repair did, one line each. */
  repaired: string[];
}

const MAX_LINE_WARNINGS = 50;
/** A temp file older than this is not a write in progress. */
const STALE_TEMP_MS = 60_000;

interface SegmentCheck {
  name: SegmentName;
  error?: { kind: 'checksum' | 'truncated' | 'garbled'; detail: string };
}

function lineWarnings(file: string): { onLine: (text: string, offset: number) => void; problems: VerifyProblem[] } {
  const problems: VerifyProblem[] = [];
  let lineNo = 0;
  let extra = 0;
  return {
    problems,
    onLine(text) {
      lineNo++;
      const c = classifyLine(text);
      if (c.kind !== 'malformed' && c.kind !== 'invalid') return;
      if (problems.length < MAX_LINE_WARNINGS) {
        problems.push({ file: `${file}:${lineNo}`, kind: c.kind, detail: c.detail, severity: 'warning' });
      } else if (++extra === 1) {
        problems.push({ file, kind: c.kind, detail: `more malformed or invalid lines past the first ${MAX_LINE_WARNINGS}`, severity: 'warning' });
      }
    },
  };
}

async function checkSegment(ctx: StoreContext, name: SegmentName, rec: SegmentRecord | undefined, out: VerifyProblem[]): Promise<SegmentCheck> {
  const path = join(ctx.paths.segments, name.file);
  const lines = lineWarnings(name.file);
  let summary;
  try {
    summary = await summarizeFile(path, name.compressed, { onLine: lines.onLine });
  } catch (err) {
    return { name, error: { kind: 'garbled', detail: `cannot be read whole: ${(err as Error).message}` } };
  } finally {
    out.push(...lines.problems);
  }
  if (summary.contentEnd > summary.end) {
    return { name, error: { kind: 'truncated', detail: `${summary.contentEnd - summary.end} bytes after the last newline (a torn line)` } };
  }
  if (rec && rec.sha256 !== summary.sha256) {
    return { name, error: { kind: 'checksum', detail: `sha256 ${summary.sha256} does not match the index (${rec.sha256})` } };
  }
  return { name };
}

/** Where the deflate data of a gzip member starts (Node writes a bare 10-byte header). */
function gzipBodyStart(raw: Buffer): number {
  if (raw.length < 10 || raw[0] !== 0x1f || raw[1] !== 0x8b) return 10;
  const flags = raw[3]!;
  let at = 10;
  if (flags & 4) at += 2 + (raw.length >= at + 2 ? raw.readUInt16LE(at) : 0);
  if (flags & 8) at = raw.indexOf(0, at) + 1 || raw.length;
  if (flags & 16) at = raw.indexOf(0, at) + 1 || raw.length;
  if (flags & 2) at += 2;
  return Math.min(at, raw.length);
}

const INFLATE_STEP = 1024;

/**
 * The content of a damaged .gz as far as it inflates. Raw inflate does not
 * check the trailer, so a flipped CRC or length byte loses nothing; and since
 * zlib drops the output of the write that fails, the body is fed in small
 * steps so that only the output past the break is lost.
 */
async function inflatePrefix(raw: Buffer): Promise<Buffer> {
  const body = raw.subarray(gzipBodyStart(raw));
  const inflate = createInflateRaw({ finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const parts: Buffer[] = [];
  let over = false;
  inflate.on('data', (c: Buffer) => parts.push(c));
  // Listening from the start: the deflate data can end (or break) inside any write.
  const done = new Promise<void>((resolve) => {
    const stop = () => {
      over = true;
      resolve();
    };
    inflate.on('end', stop).on('error', stop).on('close', stop);
  });
  for (let i = 0; i < body.length && !over; i += INFLATE_STEP) {
    await Promise.race([new Promise<void>((resolve) => inflate.write(body.subarray(i, i + INFLATE_STEP), () => resolve())), done]);
  }
  if (!over) inflate.end();
  await done;
  inflate.destroy();
  return Buffer.concat(parts);
}

/** Everything of a damaged segment that still reads, line by line; the rest is quarantined. */
async function salvage(path: string, compressed: boolean): Promise<{ good: string[]; bad: string[]; raw: Buffer }> {
  const raw = await readFile(path);
  const content = compressed ? await inflatePrefix(raw) : raw;
  const { lines, rest } = splitCompleteLines(content.toString('utf8'));
  const good: string[] = [];
  const bad: string[] = [];
  for (const l of lines) (classifyLine(l).kind === 'malformed' ? bad : good).push(l);
  if (rest !== '') bad.push(rest);
  return { good, bad, raw };
}

async function rewriteSegment(ctx: StoreContext, name: SegmentName, lines: string[]): Promise<void> {
  const path = join(ctx.paths.segments, name.file);
  const body = Buffer.from(lines.length ? `${lines.join('\n')}\n` : '');
  const tmp = join(ctx.paths.segments, `.${name.file}.repair.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(name.compressed ? gzipSync(body) : body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(ctx.paths.segments);
}

async function repairSegment(ctx: StoreContext, check: SegmentCheck, log: string[]): Promise<void> {
  const { name, error } = check;
  if (!error) return;
  const path = join(ctx.paths.segments, name.file);
  if (error.kind === 'truncated' && !name.compressed) {
    const st = await lstat(path);
    const s = await summarizeFile(path, false);
    const fh = await open(path, 'r');
    const torn = Buffer.alloc(st.size - s.end);
    try {
      await fh.read(torn, 0, torn.length, s.end);
    } finally {
      await fh.close();
    }
    const saved = await quarantine(ctx.paths.corrupt, path, 'torn', torn);
    await truncate(path, s.end);
    log.push(`${name.file}: moved ${torn.length} torn bytes to ${saved}`);
    return;
  }
  const { good, bad, raw } = await salvage(path, name.compressed);
  const saved = await quarantine(ctx.paths.corrupt, path, error.kind, raw);
  await rewriteSegment(ctx, name, good);
  log.push(`${name.file}: ${error.kind}; original saved as ${saved}; kept ${good.length} good lines, set aside ${bad.length} unreadable`);
}

/** A store that lost store.json says so; one made before store.json (no copy anywhere) is not lost. */
function identityProblem(ctx: StoreContext, indexCopy: string | undefined): VerifyProblem | undefined {
  const id = identityOf(ctx.paths, indexCopy);
  if (id.state !== 'lost') return undefined;
  const what = id.damaged ? 'store.json is unreadable' : 'store.json is missing';
  const detail = id.copy !== undefined
    ? `${what}: the store lost its identity file; index.json keeps its storeId ${id.copy}, which --repair (or the next write) restores`
    : `${what} and no copy of the storeId is left: --repair gives the store a new identity (an archive will see it as a new store)`;
  return { file: STORE_FILE, kind: 'identity', detail, severity: 'error' };
}

/**
 * metrics.pending/: a temp spill older than the stale age waits for the next
 * lock holder (merged when complete, else quarantined); a symlink is never merged.
 */
async function pendingProblems(ctx: StoreContext): Promise<VerifyProblem[]> {
  const out: VerifyProblem[] = [];
  const listing = await listPending(ctx.paths);
  for (const f of listing.symlinks) out.push({ file: `metrics.pending/${f}`, kind: 'symlink', detail: 'a symlink in metrics.pending/: never merged, read or followed', severity: 'warning' });
  for (const t of listing.temps) {
    const st = await ifExists(() => lstat(join(ctx.paths.pending, t)));
    if (st && Date.now() - st.mtimeMs > ctx.config.lockStaleMs) {
      out.push({ file: `metrics.pending/${t}`, kind: 'stale-spill', detail: 'a spill its writer never renamed into place: the next lock holder (record, rotate, verify --repair) merges it if every line is complete, else moves it to metrics.corrupt/', severity: 'warning' });
    }
  }
  return out;
}

async function checkAll(ctx: StoreContext, onProgress?: (file: string, index: number, total: number) => void): Promise<{ problems: VerifyProblem[]; checks: SegmentCheck[]; stale: string[]; twins: string[] }> {
  const { paths } = ctx;
  const problems: VerifyProblem[] = [];
  const dir = await scanSegmentsDir(paths);
  for (const f of dir.symlinks) problems.push({ file: f, kind: 'symlink', detail: 'a symlink in metrics.segments/: never read, followed or deleted', severity: 'warning' });
  for (const f of dir.foreign) problems.push({ file: f, kind: 'foreign', detail: 'not a file the store owns: never read or deleted', severity: 'warning' });
  const stale: string[] = [];
  for (const f of dir.temps) {
    const st = await ifExists(() => lstat(join(paths.segments, f)));
    if (st && Date.now() - st.mtimeMs > STALE_TEMP_MS) {
      stale.push(f);
      problems.push({ file: f, kind: 'stale-temp', detail: 'temp file of an interrupted write', severity: 'warning' });
    }
  }
  for (const t of dir.twins) problems.push({ file: t.file, kind: 'twin', detail: 'plain copy left beside its compressed segment by an interrupted seal', severity: 'error' });

  const index = await readIndex(paths);
  const known = new Map((index?.segments ?? []).map((r) => [r.seq, r]));
  if (!index && (dir.segments.length > 0 || dir.hasIndex)) {
    problems.push({ file: INDEX_FILE, kind: 'index', detail: dir.hasIndex ? 'index.json is unreadable' : 'index.json is missing', severity: 'error' });
  } else if (index) {
    const present = new Set(dir.segments.map((s) => s.seq));
    for (const r of index.segments) {
      if (!present.has(r.seq)) problems.push({ file: r.file, kind: 'index', detail: 'listed in index.json but not in the directory', severity: 'error' });
    }
    for (const s of dir.segments) {
      const r = known.get(s.seq);
      if (!r) problems.push({ file: s.file, kind: 'index', detail: 'in the directory but not in index.json', severity: 'error' });
      else if (r.file !== s.file) problems.push({ file: s.file, kind: 'index', detail: `index.json names it ${r.file}`, severity: 'error' });
    }
  }

  const identity = identityProblem(ctx, index?.storeId);
  if (identity) problems.push(identity);

  const checks: SegmentCheck[] = [];
  for (const [i, s] of dir.segments.entries()) {
    onProgress?.(s.file, i, dir.segments.length);
    const check = await checkSegment(ctx, s, known.get(s.seq)?.file === s.file ? known.get(s.seq) : undefined, problems);
    if (check.error) problems.push({ file: s.file, kind: check.error.kind, detail: check.error.detail, severity: 'error' });
    checks.push(check);
  }

  problems.push(...(await pendingProblems(ctx)));
  if (await ifExists(() => lstat(flattenJournalPath(paths)))) {
    problems.push({ file: FLATTEN_FILE, kind: 'flatten-interrupted', detail: 'a flatten was killed half way: the next lock holder (record, rotate, verify --repair) finishes or undoes it; until then metrics.json may repeat segment lines', severity: 'warning' });
  }

  const st = await ifExists(() => lstat(paths.active));
  if (st?.isFile()) {
    const lines = lineWarnings(ACTIVE_FILE);
    const s = await summarizeFile(paths.active, false, { onLine: lines.onLine });
    problems.push(...lines.problems);
    if (s.contentEnd > s.end) {
      const tail = Buffer.alloc(s.contentEnd - s.end);
      const fh = await open(paths.active, 'r');
      try {
        await fh.read(tail, 0, tail.length, s.end);
      } finally {
        await fh.close();
      }
      problems.push(
        completeTailOf(tail)
          ? { file: ACTIVE_FILE, kind: 'unterminated', detail: 'the last entry has no newline: it counts, and the next writer ends it', severity: 'warning' }
          : { file: ACTIVE_FILE, kind: 'torn-tail', detail: `${s.contentEnd - s.end} bytes after the last newline (crash residue)`, severity: 'error' },
      );
    }
  } else if (st) {
    problems.push({ file: ACTIVE_FILE, kind: 'unreadable', detail: 'metrics.json is not a regular file', severity: 'error' });
  }
  return { problems, checks, stale, twins: dir.twins.map((t) => t.file) };
}

/**
 * Check the store against itself: each sealed segment against its sha256 in
 * the index, the index against the directory, torn tails, lines that do not
 * count. With `repair`, under the writer lock: torn and unreadable bytes go to
 * metrics.corrupt/, the index is rebuilt, stale temps removed; no good line is lost.
 */
export async function verify(options: (StoreOptions & { repair?: boolean; onProgress?: (file: string, index: number, total: number) => void }) | string = {}): Promise<VerifyResult> {
  const opts = typeof options === 'string' ? { dir: options } : options;
  const store = await Store.open(opts);
  const ctx = store.context;
  const repaired: string[] = [];
  if (opts.repair) {
    const first = await checkAll(ctx, opts.onProgress);
    if (first.problems.some((p) => p.severity === 'error' || p.kind === 'stale-temp' || p.kind === 'stale-spill' || p.kind === 'flatten-interrupted')) {
      // Rewriting a segment changes history under the aggregators' checkpoints; the aggregate
      // lock (taken before the writer lock, in retention's order) keeps them out meanwhile.
      const aggregated = first.checks.some((c) => c.error) && (await ifExists(() => lstat(ctx.paths.metrics))) !== undefined;
      const repair = async () => {
        await store.writer(async () => {
          // prepare() has already moved the active file's torn tail away and merged pending entries.
          const resolved = new Set<number>();
          for (const t of first.twins) {
            const seq = parseSegmentName(t)?.seq;
            const gz = first.checks.find((c) => c.name.seq === seq);
            if (gz?.error) {
              // The compression was interrupted or its result is damaged: the plain copy is the segment.
              const gzPath = join(ctx.paths.segments, gz.name.file);
              const saved = await quarantine(ctx.paths.corrupt, gzPath, gz.error.kind, await readFile(gzPath));
              await unlinkIfExists(gzPath);
              resolved.add(gz.name.seq);
              repaired.push(`${gz.name.file}: ${gz.error.kind}; kept its complete plain copy ${t}, damaged bytes saved as ${saved}`);
            } else if (await unlinkIfExists(join(ctx.paths.segments, t))) {
              repaired.push(`${t}: removed plain twin of a compressed segment`);
            }
          }
          for (const f of first.stale) {
            if (await unlinkIfExists(join(ctx.paths.segments, f))) repaired.push(`${f}: removed stale temp file`);
          }
          for (const check of first.checks) if (!resolved.has(check.name.seq)) await repairSegment(ctx, check, repaired);
          const dir = await scanSegmentsDir(ctx.paths);
          const old = await readIndex(ctx.paths);
          const records: SegmentRecord[] = [];
          for (const s of dir.segments) records.push(await describeSegment(ctx.paths, s));
          // A lost index must not let seq go back below what retention already deleted.
          const lastSeq = Math.max(old?.lastSeq ?? 0, seqFloor(ctx.paths), records.at(-1)?.seq ?? 0);
          // prepare() restored store.json from index.json's copy where there was one; else, asked to repair, a new identity.
          let id = identityOf(ctx.paths, old?.storeId);
          if (id.state !== 'ok') {
            const made = await newIdentity(ctx.paths, lastSeq, true);
            repaired.push(`${STORE_FILE}: no copy of the old storeId was left; the store now has the new identity ${made.storeId}`);
            id = { state: 'ok', file: made };
          }
          writeIndex(ctx.paths, { version: 1, lastSeq, ...(id.state === 'ok' ? { storeId: id.file.storeId } : {}), segments: records }, true);
          repaired.push(`${INDEX_FILE}: rebuilt from ${records.length} segments`);
        });
        if (aggregated) {
          // The next aggregate rebuilds from the repaired segments instead of carrying on from the damaged ones.
          for (const n of await dropAllCheckpoints(ctx.paths)) repaired.push(`metrics/${n}: dropped, the next aggregate rebuilds`);
        }
      };
      if (aggregated) await store.withAggregateLock('verify --repair', repair);
      else await repair();
      for (const r of repaired) ctx.log.warn({ repair: r }, 'verify --repair');
    }
  }
  const { problems } = await checkAll(ctx, opts.onProgress);
  return { ok: !problems.some((p) => p.severity === 'error'), problems, repaired };
}
