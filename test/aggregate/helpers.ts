import { appendFile, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { aggregate, type AggregateOptions, type AggregateResult } from '../../lib/aggregate/aggregator.js';
import { quietLog } from '../helpers/tmp.js';

/** The six contract outputs, by where they live relative to the root and <out>. */
export const OUTPUT_FILES = [
  ['root', 'metrics/baseline.json'],
  ['root', 'metrics/post-rollout.json'],
  ['root', 'metrics/completeness.json'],
  ['root', 'metrics/per-epoch.json'],
  ['out', 'metrics/mttr-delta.json'],
  ['out', 'state.json'],
] as const;

export type Outputs = Record<string, unknown>;

async function readJsonOrUndefined(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function withoutUpdatedAt(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const { updated_at: _ignored, ...rest } = value as Record<string, unknown>;
  return rest;
}

/** Every output as parsed JSON (undefined when absent), updated_at removed: what "equal outputs" compares. */
export async function readOutputs(root: string, out = root): Promise<Outputs> {
  const result: Outputs = {};
  for (const [place, rel] of OUTPUT_FILES) {
    result[rel] = withoutUpdatedAt(await readJsonOrUndefined(join(place === 'root' ? root : out, rel)));
  }
  return result;
}

/** One output as written (updated_at kept). */
export async function readOutput(dir: string, rel: string): Promise<any> {
  return readJsonOrUndefined(join(dir, rel));
}

let copies = 0;

/**
 * The oracle: copy the whole root (segments, active file, retained base,
 * outputs) and run `aggregate --rebuild` there; returns the copy's outputs
 * (mttr-delta and state from `opts.out` when given).
 */
export async function rebuildInCopy(root: string, scratch: string, opts: Partial<AggregateOptions> = {}): Promise<{ outputs: Outputs; result: AggregateResult }> {
  const copy = join(scratch, `rebuild-copy-${process.pid}-${++copies}`);
  await cp(root, copy, { recursive: true, verbatimSymlinks: true });
  const result = await aggregate({ log: quietLog, ...opts, dir: copy, rebuild: true });
  return { outputs: await readOutputs(copy, opts.out ?? copy), result };
}

/** A pino logger writing JSON records into an array, to assert on warnings. */
export function captureLog(level = 'info'): { log: Logger; records: Array<Record<string, any>> } {
  const records: Array<Record<string, any>> = [];
  const log = pino({ level }, { write: (s: string) => void records.push(JSON.parse(s) as Record<string, any>) });
  return { log, records };
}

export function warnings(records: Array<Record<string, any>>): Array<Record<string, any>> {
  return records.filter((r) => r['level'] === 40);
}

/** Append raw bytes to the active file, bypassing the recorder (legacy writers, garbage, torn tails). */
export async function appendRaw(root: string, text: string): Promise<void> {
  await mkdir(root, { recursive: true });
  await appendFile(join(root, 'metrics.json'), text);
}

export async function writeActive(root: string, text: string): Promise<void> {
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'metrics.json'), text);
}

/** A minimal counted entry. */
export function run(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { run_id: id, status: 'succeeded', recorded_at: '2026-01-01T00:00:00.000Z', ...extra };
}

export function line(e: unknown): string {
  return `${JSON.stringify(e)}\n`;
}
