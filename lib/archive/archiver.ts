import { join } from 'node:path';
import { errnoCode, StoreError, UsageError } from '../errors.js';
import { checkRoot, loadIndex, storeContext, withWriter, type SegmentIndex, type SegmentRecord, type StoreContext, type StoreOptions } from '../store/store.js';
import { parseArchiveLocation, type ArchiveLocation } from './location.js';
import { archivedIn, readRecord, writeRecord } from './record.js';
import { openTarget, type ArchiveTarget } from './target.js';

export interface ArchiveOptions extends StoreOptions {
  /** The archive (s3://bucket/prefix, file: URL or directory); default CODEX_METRICS_ARCHIVE. */
  to?: string;
  /** Look, report what would be copied, copy nothing. */
  dryRun?: boolean;
  /** Before each segment is copied (progress on a terminal). */
  onProgress?: (done: number, total: number, file: string) => void;
  /** Stop between segments (record's bounded after-seal archiving); what is left stays for the next run. */
  signal?: AbortSignal;
  /** Where AWS_* credentials come from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ArchiveResult {
  /** Segments this run copied (with dryRun: would copy). */
  archived: string[];
  /** Sealed segments the archive already held (the record, or a look-up, said so). */
  already: number;
  /** Sealed segments not in the archive when the run ended. */
  remaining: number;
  url: string;
  storeId: string;
  dryRun: boolean;
}

/** How often the local record is saved during a long catch-up (it is only a cache). */
const RECORD_EVERY_MS = 1000;

export const CATALOGUE = 'index.json';

export function archiveLocationOf(ctx: StoreContext, to: string | undefined): ArchiveLocation {
  if (to !== undefined) return parseArchiveLocation(to, '--to');
  if (ctx.config.archive) return ctx.config.archive;
  throw new UsageError('no archive given: pass --to URL or set CODEX_METRICS_ARCHIVE (s3://bucket/prefix or a directory)');
}

/**
 * The catalogue and the storeId the archive files segments under. A store from
 * before store.json gets one the way every lock holder gives it (briefly under
 * the writer lock); a store that lost it with no copy left is refused:
 * archiving under a new name would duplicate its history.
 */
async function catalogueOf(ctx: StoreContext): Promise<{ storeId: string; index: SegmentIndex }> {
  const load = async () => (await loadIndex(ctx.paths, { log: ctx.log, persist: false, fsync: false })).index;
  let index = await load();
  if (index.storeId === undefined) {
    await withWriter(ctx.paths, ctx.config, ctx.log, { waitMs: 30_000, clock: ctx.clock }, async () => undefined);
    index = await load();
  }
  if (index.storeId === undefined) throw new StoreError('the store has lost its storeId (metrics.segments/store.json) and no copy is left: run `codex-metrics verify --repair` before archiving');
  return { storeId: index.storeId, index };
}

export async function openArchive(ctx: StoreContext, loc: ArchiveLocation, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<ArchiveTarget> {
  return openTarget(loc, { endpoint: ctx.config.s3Endpoint, env, signal });
}

/** The archive's catalogue as it stands, or undefined (none yet, or unreadable). */
export async function readArchivedCatalogue(target: ArchiveTarget, storeId: string): Promise<SegmentIndex | undefined> {
  const body = await target.open(storeId, CATALOGUE);
  if (!body) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  try {
    const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SegmentIndex;
    return json && json.version === 1 && Array.isArray(json.segments) ? json : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The catalogue written to the archive describes what the archive holds:
 * the local catalogue's archived segments, plus those the archive's earlier
 * catalogue listed that retention has deleted here since (a rebuild from the
 * archive reads their sha256 from it).
 */
function archiveCatalogue(local: SegmentIndex, storeId: string, held: ReadonlyMap<string, string>, before: SegmentIndex | undefined): SegmentIndex {
  const bySeq = new Map<number, SegmentRecord>();
  for (const r of before?.segments ?? []) if (typeof r.seq === 'number') bySeq.set(r.seq, r);
  for (const r of local.segments) if (held.get(r.file) === r.sha256) bySeq.set(r.seq, r);
  return { version: 1, lastSeq: local.lastSeq, storeId, segments: [...bySeq.values()].sort((a, b) => a.seq - b.seq) };
}

/**
 * Copy every sealed segment not yet archived to `<archive>/<storeId>/<file>`,
 * bytes unchanged, then the catalogue to `<archive>/<storeId>/index.json`.
 * Exactly once without a time window: the archive creates a segment only if
 * absent and compares what is there otherwise (see ArchiveTarget). Never
 * under the writer lock: sealed segments do not change.
 */
export async function archive(options: ArchiveOptions | string = {}): Promise<ArchiveResult> {
  const opts = typeof options === 'string' ? { dir: options } : options;
  const ctx = storeContext(opts);
  const { paths, log } = ctx;
  const loc = archiveLocationOf(ctx, opts.to);
  await checkRoot(paths, true);
  const { storeId, index } = await catalogueOf(ctx);
  const target = await openArchive(ctx, loc, opts.env ?? process.env, opts.signal);
  const held = archivedIn(readRecord(paths), loc.url, storeId);
  const todo = index.segments.filter((s) => held.get(s.file) !== s.sha256);
  const result: ArchiveResult = { archived: [], already: index.segments.length - todo.length, remaining: todo.length, url: loc.url, storeId, dryRun: opts.dryRun === true };

  let savedAt = Date.now();
  let unsaved = false;
  const save = () => {
    if (unsaved) writeRecord(paths, loc.url, storeId, held);
    unsaved = false;
    savedAt = Date.now();
  };
  try {
    for (const [i, seg] of todo.entries()) {
      if (opts.signal?.aborted) break;
      opts.onProgress?.(i, todo.length, seg.file);
      if (opts.dryRun) {
        const there = await target.sha256Of(storeId, seg.file);
        if (there === undefined) result.archived.push(seg.file);
        else if (there === seg.sha256) result.already++;
        else throw new StoreError(`archive conflict: ${loc.url}/${storeId}/${seg.file} holds other bytes (sha256 ${there}) than the local segment (sha256 ${seg.sha256})`);
        continue;
      }
      let outcome: 'created' | 'already';
      try {
        outcome = await target.putSegment(storeId, { file: seg.file, path: join(paths.segments, seg.file), sha256: seg.sha256, size: seg.storedBytes });
      } catch (err) {
        // Deleted since it was listed (retention by another process): nothing left to copy.
        if (errnoCode(err) === 'ENOENT') {
          result.remaining--;
          continue;
        }
        throw err;
      }
      if (outcome === 'created') result.archived.push(seg.file);
      else result.already++;
      result.remaining--;
      held.set(seg.file, seg.sha256);
      unsaved = true;
      log.debug({ file: seg.file, outcome, archive: loc.url }, 'archive: segment');
      if (Date.now() - savedAt >= RECORD_EVERY_MS) save();
    }
  } finally {
    if (!opts.dryRun) save();
  }
  // Every run, not only one that copied: a run killed after its last copy left the catalogue behind.
  if (!opts.dryRun && held.size > 0) {
    const before = await readArchivedCatalogue(target, storeId);
    const catalogue = archiveCatalogue(index, storeId, held, before);
    await target.putSmall(storeId, CATALOGUE, Buffer.from(`${JSON.stringify(catalogue, null, 2)}\n`));
  }
  if (opts.dryRun) result.remaining = result.archived.length;
  log.info({ archive: loc.url, storeId, archived: result.archived.length, already: result.already, remaining: result.remaining }, 'archive: done');
  return result;
}

/** How long `record` may spend archiving what it sealed before it leaves the rest to the next run. */
export const AFTER_SEAL_MS = 10_000;

/**
 * After a seal, with the writer lock released: archive what is not archived
 * yet, within `timeoutMs`. A failure or a timeout is a warning: the entries
 * are acknowledged already, and `archive` (in cron) catches up.
 */
export async function archiveAfterSeal(opts: ArchiveOptions & { timeoutMs?: number }): Promise<ArchiveResult | undefined> {
  const ctx = storeContext(opts);
  if (!ctx.config.archive) return undefined;
  const timeoutMs = opts.timeoutMs ?? AFTER_SEAL_MS;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`archiving took longer than ${timeoutMs} ms`)), timeoutMs);
  try {
    const result = await archive({ ...opts, config: ctx.config, log: ctx.log, signal: controller.signal });
    if (result.remaining > 0) ctx.log.warn({ archive: result.url, remaining: result.remaining }, `record: archiving took longer than ${timeoutMs} ms; \`codex-metrics archive\` copies the rest`);
    return result;
  } catch (err) {
    const reason = controller.signal.aborted ? `took longer than ${timeoutMs} ms` : (err as Error).message;
    ctx.log.warn({ archive: ctx.config.archive.url, reason }, 'record: could not archive the sealed segments now (the entries are recorded; `codex-metrics archive` catches up)');
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
