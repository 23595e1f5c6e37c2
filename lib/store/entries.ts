import { whyNotARun } from '../aggregate/classify.js';
import { InputError } from '../errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The recorder's gate: an entry is one plain JSON object. Lines are kept as
 * the caller wrote them (trimmed), so numbers the caller wrote are stored
 * digit for digit; objects passed in memory are serialized once.
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** One complete JSON object: what a spill line or a torn tail must be to be kept as an entry. */
export function isJsonObject(text: string): boolean {
  try {
    return isPlainObject(JSON.parse(text));
  } catch {
    return false;
  }
}

/**
 * Bytes after the last newline of metrics.json that are one complete JSON
 * object: an entry whose newline was lost, kept (contract "Torn tail").
 */
export function isCompleteTail(bytes: Uint8Array): boolean {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return false;
  }
  return isJsonObject(text);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'non-plain'} object`;
  return `a ${typeof value}`;
}

/** A validated batch: the lines to store, and those that will never count as a run. */
export interface EntryBatch {
  lines: string[];
  /** Where (e.g. "stdin line 3", "entry 2") and why, in input order. */
  uncountable: Array<{ where: string; why: string }>;
}

/** With the u flag a surrogate pair is one code point: only a lone half matches. */
const LONE_SURROGATE = /\p{Cs}/u;

/** The 1-based line of the first invalid UTF-8 sequence in `bytes`. */
function firstBadUtf8Line(bytes: Uint8Array): number {
  let line = 1;
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    try {
      strictUtf8.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    if (nl === -1) return line;
    start = nl + 1;
    line++;
  }
}

/**
 * Lines are stored byte for byte as written, so they must be UTF-8: a decoder
 * that replaced bad bytes with U+FFFD would store something else (and make
 * "a\xff" and "a\xfe" one run_id).
 */
function decodeInput(input: string | Uint8Array, source: string): string {
  if (typeof input === 'string') {
    if (!LONE_SURROGATE.test(input)) return input;
    const line = input.split('\n').findIndex((l) => LONE_SURROGATE.test(l)) + 1;
    throw new InputError(`${source} line ${line}: not valid Unicode (a lone surrogate); nothing was recorded`);
  }
  try {
    return strictUtf8.decode(input);
  } catch {
    throw new InputError(`${source} line ${firstBadUtf8Line(input)}: not valid UTF-8; nothing was recorded`);
  }
}

/** Validate JSON Lines text (or bytes, which must be UTF-8) as a whole batch; blank lines are not entries. */
export function entryLinesFromText(input: string | Uint8Array, source = 'input'): EntryBatch {
  const text = decodeInput(input, source);
  const out: EntryBatch = { lines: [], uncountable: [] };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new InputError(`${source} line ${i + 1}: not JSON (${(err as Error).message}); nothing was recorded`);
    }
    if (!isPlainObject(value)) {
      throw new InputError(`${source} line ${i + 1}: expected a JSON object, got ${kindOf(value)}; nothing was recorded`);
    }
    const why = whyNotARun(value, line);
    if (why !== undefined) out.uncountable.push({ where: `${source} line ${i + 1}`, why });
    out.lines.push(line);
  }
  return out;
}

/** Validate in-memory entries as a whole batch. */
export function entryLinesFromValues(values: readonly unknown[]): EntryBatch {
  const out: EntryBatch = { lines: [], uncountable: [] };
  values.forEach((value, i) => {
    if (!isPlainObject(value)) {
      throw new InputError(`entry ${i + 1}: expected a plain object, got ${kindOf(value)}; nothing was recorded`);
    }
    let line: string;
    try {
      line = JSON.stringify(value);
    } catch (err) {
      // BigInt, cycles: what cannot become JSON is bad input like any other.
      throw new InputError(`entry ${i + 1}: cannot be written as JSON (${(err as Error).message}); nothing was recorded`);
    }
    // A toJSON() may turn an object into anything; the line must still be an object.
    if (typeof line !== 'string' || !line.startsWith('{')) {
      throw new InputError(`entry ${i + 1}: serializes to ${line === undefined ? 'nothing' : 'a non-object'}; nothing was recorded`);
    }
    // A line is the unit of the store: JSON.stringify never emits a raw newline.
    const why = whyNotARun(JSON.parse(line), line);
    if (why !== undefined) out.uncountable.push({ where: `entry ${i + 1}`, why });
    out.lines.push(line);
  });
  return out;
}
