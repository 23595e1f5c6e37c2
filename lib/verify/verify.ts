import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { lstat, open, readFile, truncate } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { constants as zlibConstants, createInflateRaw, gzipSync } from 'node:zlib';
import { classifyLine } from '../aggregate/classify.js';
import { dropAllCheckpoints } from '../aggregate/checkpoint.js';
import { errnoCode, ifExists, ifExistsSync, StoreError } from '../errors.js';
import { isAtomicTempName, parseChecksummedJson, quarantine, readChecksummedJson, unlinkIfExists, writeFileAtomic } from '../store/files.js';
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
  fileSystem,
  summarizeFile,
  writeIndex,
  type SegmentName,
  type SegmentRecord,
  type StoreContext,
  type StoreOptions,
  type StorePaths,
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

function rewriteSegment(ctx: StoreContext, name: SegmentName, lines: string[]): void {
  const body = Buffer.from(lines.length ? `${lines.join('\n')}\n` : '');
  writeFileAtomic(join(ctx.paths.segments, name.file), name.compressed ? gzipSync(body) : body, { fsync: true, fsyncDir: true, site: 'repair' });
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
    fileSystem().step('repair:quarantined');
    await truncate(path, s.end);
    log.push(`${name.file}: moved ${torn.length} torn bytes to ${saved}`);
    return;
  }
  const { good, bad, raw } = await salvage(path, name.compressed);
  const saved = await quarantine(ctx.paths.corrupt, path, error.kind, raw);
  fileSystem().step('repair:quarantined');
  rewriteSegment(ctx, name, good);
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

/** A clock this far off is not a slow disk or a leap second. */
const CLOCK_SLACK_MS = 5 * 60_000;
/** Before the store could have been written. */
const FAR_PAST_MS = Date.UTC(2000, 0, 1);

/**
 * A segment sealed under a wrong clock: its name says the future, the far
 * past, or earlier than a segment sealed before it. The data is sound, but
 * age-based retention would misjudge it, so it is reported (a warning).
 */
function checkSealedTimes(segments: readonly SegmentName[], nowMs: number, out: VerifyProblem[]): void {
  let latest = -Infinity;
  for (const s of segments) {
    const at = new Date(s.sealedAtMs).toISOString();
    let detail: string | undefined;
    if (s.sealedAtMs > nowMs + CLOCK_SLACK_MS) detail = `sealed at ${at}, in the future`;
    else if (s.sealedAtMs < FAR_PAST_MS) detail = `sealed at ${at}, before 2000`;
    else if (s.sealedAtMs < latest - CLOCK_SLACK_MS) detail = `sealed at ${at}, before an earlier segment (${new Date(latest).toISOString()})`;
    if (detail) out.push({ file: s.file, kind: 'sealed-time', detail: `${detail}: the clock of the process that sealed it was wrong; age-based retention misjudges it`, severity: 'warning' });
    latest = Math.max(latest, s.sealedAtMs);
  }
}

const CHECKSUMMED_JSON = /^(aggregate-state|retained-base)(\..+)?\.json$/;

/** What to do about a damaged JSON file of the store, by name. */
function damagedAdvice(name: string): string {
  if (name.startsWith('retained-base')) return 'it holds the folded history of deleted segments and cannot be rebuilt: restore it from a backup';
  if (name.startsWith('aggregate-state')) return 'verify --repair drops it; the next aggregate rebuilds it';
  if (name === 'layout.json') return 'the run-id index cannot be read without it: restore it from a backup, or move the run-ids directory away and run aggregate --rebuild (repeats of run_ids from deleted segments then count as new)';
  return 'verify --repair drops it; the next aggregate writes it again';
}

/** Damaged files a pass writes again from what is left: checkpoints and outputs, nothing that holds history. */
function rewritable(file: string): boolean {
  return !/(^|\/)(retained-base[^/]*|layout)\.json$/.test(file);
}

/**
 * Every JSON file of the store must parse (and the checkpoint and retained
 * base match their checksum): metrics/*.json, the run-id layouts, and the
 * outputs under the <out> the checkpoint names. (index.json is checked with
 * the segments, store.json by identityProblem.)
 */
function checkJsonFiles(paths: StorePaths): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const files: Array<{ path: string; file: string; name: string }> = [];
  const add = (dir: string, prefix: string, name: string) => files.push({ path: join(dir, name), file: `${prefix}${name}`, name });
  for (const e of ifExistsSync(() => readdirSync(paths.metrics, { withFileTypes: true })) ?? []) {
    if (e.isFile() && e.name.endsWith('.json')) add(paths.metrics, 'metrics/', e.name);
    else if (e.isDirectory() && /^run-ids(\..+)?$/.test(e.name)) add(join(paths.metrics, e.name), `metrics/${e.name}/`, 'layout.json');
  }
  add(paths.root, '', 'state.json');
  const out = checkpointOut(paths);
  if (out !== undefined && resolve(out) !== resolve(paths.root)) {
    add(out, `${out}/`, 'state.json');
    add(join(out, 'metrics'), `${out}/metrics/`, 'mttr-delta.json');
  }
  for (const f of files) {
    const text = ifExistsSync(() => readFileSync(f.path, 'utf8'));
    if (text === undefined) continue;
    const parsed = CHECKSUMMED_JSON.test(f.name) ? parseChecksummedJson(text) : parseJsonText(text);
    if (!parsed.ok) problems.push({ file: f.file, kind: 'damaged-json', detail: `${parsed.reason}; ${damagedAdvice(f.name)}`, severity: 'error' });
  }
  return problems;
}

function parseJsonText(text: string): { ok: true } | { ok: false; reason: string } {
  try {
    JSON.parse(text);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: text.length === 0 ? 'empty' : `not valid JSON (${(err as Error).message})` };
  }
}

/** The <out> the built-in reducer's checkpoint last wrote to, if it says. */
function checkpointOut(paths: StorePaths): string | undefined {
  const read = readChecksummedJson(join(paths.metrics, 'aggregate-state.json'));
  const out = read?.ok ? (read.value as { out?: unknown }).out : undefined;
  return typeof out === 'string' ? out : undefined;
}

/** Temp files of the store's atomic writes in `dir` (".<name>.<pid>.<n>.tmp"), older than `ageMs`. */
function staleTemps(dir: string, ageMs: number): string[] {
  const now = Date.now();
  const out: string[] = [];
  for (const e of ifExistsSync(() => readdirSync(dir, { withFileTypes: true })) ?? []) {
    if (!e.isFile() || !isAtomicTempName(e.name)) continue;
    const st = ifExistsSync(() => lstatSync(join(dir, e.name)));
    if (st && now - st.mtimeMs >= ageMs) out.push(e.name);
  }
  return out;
}

interface Check {
  problems: VerifyProblem[];
  checks: SegmentCheck[];
  /** Store temps in metrics.segments/ and metrics/ old enough not to be writes in progress. */
  stale: string[];
  metricsTemps: string[];
  twins: string[];
}

async function checkAll(ctx: StoreContext, onProgress?: (file: string, index: number, total: number) => void): Promise<Check> {
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
  checkSealedTimes(dir.segments, Date.now(), problems);
  problems.push(...checkJsonFiles(paths));
  const metricsTemps = staleTemps(paths.metrics, STALE_TEMP_MS);
  for (const f of metricsTemps) problems.push({ file: `metrics/${f}`, kind: 'stale-temp', detail: 'temp file of an interrupted write', severity: 'warning' });

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
  return { problems, checks, stale, metricsTemps, twins: dir.twins.map((t) => t.file) };
}

/** How long verify waits for a writer or aggregator to finish before it looks again. */
const SECOND_LOOK_WAIT_MS = 30_000;

/**
 * Check the store against itself: each sealed segment against its sha256 in
 * the index, the index against the directory, torn tails, every JSON file of
 * the store, lines that do not count. Live writers and aggregators are never
 * seen mid-step: an error is reported only when it is still there on a second
 * look under the writer lock. With `repair`, under the aggregate and writer
 * locks: torn and unreadable bytes go to metrics.corrupt/, the index is
 * rebuilt, leftover temps removed, damaged checkpoints and outputs dropped
 * (the next aggregate writes them again); no good line is lost.
 */
export async function verify(options: (StoreOptions & { repair?: boolean; onProgress?: (file: string, index: number, total: number) => void }) | string = {}): Promise<VerifyResult> {
  const opts = typeof options === 'string' ? { dir: options } : options;
  const store = await Store.open(opts);
  const ctx = store.context;
  // A file can vanish between listing and reading it (a seal renames metrics.json): that is for the second look too.
  const first = await checkAll(ctx, opts.onProgress).catch((err: unknown) => (errnoCode(err) === 'ENOENT' ? undefined : Promise.reject(err)));
  const errors = (c: Check | undefined) => c === undefined || c.problems.some((p) => p.severity === 'error');
  const leftovers = (c: Check) => c.stale.length + c.metricsTemps.length > 0 || c.problems.some((p) => p.kind === 'stale-spill' || p.kind === 'flatten-interrupted');
  if (opts.repair && (errors(first) || leftovers(first!))) {
    const repaired = await repair(store);
    const { problems } = await checkAll(ctx);
    return { ok: !problems.some((p) => p.severity === 'error'), problems, repaired };
  }
  if (first && !errors(first)) return { ok: true, problems: first.problems, repaired: [] };
  // A writer between a seal's rename and its index write, a retention between listing and
  // deleting: only what is still wrong while nobody writes is an error.
  // A reader without write access (or on a full disk) cannot take the lock: it reports what it saw.
  const second = await store.betweenWrites(SECOND_LOOK_WAIT_MS, () => checkAll(ctx));
  if (!second) ctx.log.warn({ lock: ctx.paths.lock }, 'verify: no second look under the writer lock; reporting the first look');
  const { problems } = second?.value ?? first ?? (await checkAll(ctx));
  return { ok: !problems.some((p) => p.severity === 'error'), problems, repaired: [] };
}

/** Fix what can be fixed, looking again under the locks; returns what was done, one line each. */
async function repair(store: Store): Promise<string[]> {
  const ctx = store.context;
  const repaired: string[] = [];
  // Rewriting a segment changes history under the aggregators' checkpoints, and dropping a
  // checkpoint or output must not race a pass writing one: the aggregate lock (taken before
  // the writer lock, in retention's order) keeps them out meanwhile.
  const aggregated = (await ifExists(() => lstat(ctx.paths.metrics))) !== undefined;
  const work = async () => {
    let rewrote = false;
    let damaged: VerifyProblem[] = [];
    await store.writer(async () => {
      // prepare() has already moved the active file's torn tail away and merged pending entries.
      const now = await checkAll(ctx);
      damaged = now.problems.filter((p) => p.kind === 'damaged-json');
      const resolved = new Set<number>();
      for (const t of now.twins) {
        const seq = parseSegmentName(t)?.seq;
        const gz = now.checks.find((c) => c.name.seq === seq);
        if (gz?.error) {
          // The compression was interrupted or its result is damaged: the plain copy is the segment.
          const gzPath = join(ctx.paths.segments, gz.name.file);
          const saved = await quarantine(ctx.paths.corrupt, gzPath, gz.error.kind, await readFile(gzPath));
          await unlinkIfExists(gzPath, 'repair');
          resolved.add(gz.name.seq);
          rewrote = true;
          repaired.push(`${gz.name.file}: ${gz.error.kind}; kept its complete plain copy ${t}, damaged bytes saved as ${saved}`);
        } else if (await unlinkIfExists(join(ctx.paths.segments, t), 'repair')) {
          repaired.push(`${t}: removed plain twin of a compressed segment`);
        }
      }
      // Every write in metrics.segments/ happens under the writer lock we hold: any temp there,
      // however young, is left by a process that died (a killed repair's own included).
      for (const f of (await scanSegmentsDir(ctx.paths)).temps) {
        if (await unlinkIfExists(join(ctx.paths.segments, f), 'repair')) repaired.push(`${f}: removed temp file of an interrupted write`);
      }
      for (const check of now.checks) {
        if (resolved.has(check.name.seq) || !check.error) continue;
        await repairSegment(ctx, check, repaired);
        rewrote = true;
      }
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
      // Every write in metrics/ happens under the aggregate lock we hold.
      for (const f of staleTemps(ctx.paths.metrics, 0)) {
        if (await unlinkIfExists(join(ctx.paths.metrics, f), 'repair')) repaired.push(`metrics/${f}: removed temp file of an interrupted write`);
      }
      for (const p of damaged) {
        if (!rewritable(p.file)) continue;
        const path = p.file.startsWith('/') ? p.file : join(ctx.paths.root, p.file);
        if (await unlinkIfExists(path, 'repair')) repaired.push(`${p.file}: damaged, dropped; the next aggregate writes it again`);
      }
      if (rewrote) {
        // The next aggregate rebuilds from the repaired segments instead of carrying on from the damaged ones.
        for (const n of await dropAllCheckpoints(ctx.paths, 'repair')) repaired.push(`metrics/${n}: dropped, the next aggregate rebuilds`);
      }
    }
  };
  if (aggregated) await store.withAggregateLock('verify --repair', work);
  else await work();
  for (const r of repaired) ctx.log.warn({ repair: r }, 'verify --repair');
  return repaired;
}
