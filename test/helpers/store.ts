import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import { loadConfig, type ConfigOptions } from '../../lib/config.js';
import { parseSegmentName, storePaths } from '../../lib/store/names.js';
import { Recorder } from '../../lib/store/recorder.js';
import { quietLog } from './tmp.js';

/** A recorder whose config comes only from `options`: the test's env and config/default.json do not leak in. */
export function openRecorder(dir: string, options: ConfigOptions & { lockWaitMs?: number } = {}): Promise<Recorder> {
  const { lockWaitMs, ...config } = options;
  return Recorder.open({ config: loadConfig({ ...config, dir }, { env: {}, defaultsFile: null }), log: quietLog, ...(lockWaitMs !== undefined ? { lockWaitMs } : {}) });
}

export interface StoredSegment {
  seq: number;
  file: string;
  lines: string[];
  /** Uncompressed bytes. */
  bytes: number;
}

export interface StoreContents {
  segments: StoredSegment[];
  /** Lines of metrics.json (complete lines only). */
  active: string[];
  /** Every line, in store order. */
  all: string[];
  /** Names left in metrics.pending/ (anything, temp files included). */
  pending: string[];
  /** Files in metrics.corrupt/, name -> content. */
  corrupt: Map<string, string>;
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

function linesOf(text: string): string[] {
  const lines = text.split('\n');
  lines.pop();
  return lines;
}

/** What is on disk, read directly (not through the library under test). */
export async function readStore(root: string): Promise<StoreContents> {
  const paths = storePaths(root);
  const segments: StoredSegment[] = [];
  const files = await list(paths.segments);
  for (const file of files) {
    const name = parseSegmentName(file);
    if (!name) continue;
    // A plain twin of a complete .gz is crash residue of a compressing seal, not a second copy.
    if (!name.compressed && files.includes(`${file}.gz`)) continue;
    const raw = await readFile(join(paths.segments, file));
    const content = name.compressed ? gunzipSync(raw) : raw;
    segments.push({ seq: name.seq, file, lines: linesOf(content.toString('utf8')), bytes: content.length });
  }
  let active: string[] = [];
  try {
    active = linesOf(await readFile(paths.active, 'utf8'));
  } catch {
    // no active file yet
  }
  const corrupt = new Map<string, string>();
  for (const file of await list(paths.corrupt)) corrupt.set(file, await readFile(join(paths.corrupt, file), 'utf8'));
  return {
    segments,
    active,
    all: [...segments.flatMap((s) => s.lines), ...active],
    pending: await list(paths.pending),
    corrupt,
  };
}

/** The "id" field of every line, in store order. */
export function idsOf(lines: readonly string[]): string[] {
  return lines.map((l) => String((JSON.parse(l) as { id: unknown }).id));
}

export function entries(prefix: string, n: number, extra: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, recorded_at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), ...extra }));
}

/**
 * Every id in `expected` is stored exactly once, and nothing else is stored
 * except ids `alsoAllowed` accepts (entries a killed writer wrote but never
 * acknowledged), and those at most once too.
 */
export function expectExactlyOnce(stored: readonly string[], expected: Iterable<string>, alsoAllowed: (id: string) => boolean = () => false): void {
  const counts = new Map<string, number>();
  for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1);
  const doubled = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  expect(doubled, 'stored more than once').to.deep.equal([]);
  const want = new Set(expected);
  expect([...want].filter((id) => !counts.has(id)), 'acknowledged but missing').to.deep.equal([]);
  expect([...counts.keys()].filter((id) => !want.has(id) && !alsoAllowed(id)), 'stored but never written').to.deep.equal([]);
}

/** Sealed segments are numbered 1..n without gaps, none over the limits. */
export function expectSegmentsWithin(segments: readonly StoredSegment[], limits: { maxLines?: number; maxBytes?: number }, firstSeq = 1): void {
  expect(segments.map((s) => s.seq)).to.deep.equal(segments.map((_, i) => firstSeq + i));
  for (const s of segments) {
    expect(s.lines.length, s.file).to.be.greaterThan(0);
    if (limits.maxLines) expect(s.lines.length, s.file).to.be.at.most(limits.maxLines);
    if (limits.maxBytes && s.lines.length > 1) expect(s.bytes, s.file).to.be.at.most(limits.maxBytes);
  }
}
