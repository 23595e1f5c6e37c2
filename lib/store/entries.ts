import { InputError } from '../errors.js';

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

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'non-plain'} object`;
  return `a ${typeof value}`;
}

/** Validate JSON Lines text as a whole batch; blank lines are not entries. */
export function entryLinesFromText(text: string, source = 'input'): string[] {
  const out: string[] = [];
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
    out.push(line);
  }
  return out;
}

/** Validate in-memory entries as a whole batch. */
export function entryLinesFromValues(values: readonly unknown[]): string[] {
  return values.map((value, i) => {
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
    return line;
  });
}
