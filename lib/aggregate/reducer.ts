/**
 * One pass, one reducer: every counted entry, in store order, goes through
 * `step`. State must survive toJSON/fromJSON exactly (insertion order kept,
 * maps as arrays of pairs), so a checkpoint resumes where the pass stopped
 * and incremental results equal a full rebuild.
 *
 * The version rule: raise `version` whenever a state saved by the old code,
 * resumed by the new code, could give other outputs than the new code
 * rebuilding from scratch: a new or changed state field, a changed `step`,
 * a new output that needs state the old one did not keep. (An output
 * computed from state already kept needs no new version.) Then a checkpoint
 * of the old version is simply rebuilt from the retained base and the
 * segments. The retained base holds history retention deleted, so it cannot
 * be rebuilt: `upgrade` carries it forward, and without one (or when it
 * throws) aggregation stops with an error naming the way out.
 */
export interface Reducer<S = unknown> {
  /** Checkpoints written under another name or version are rebuilt. */
  readonly name: string;
  readonly version: number;
  /**
   * Optional: the state of an older version (its toJSON form) brought to this
   * version's toJSON form, exactly what this version would have reached over
   * the same entries. Throw when that cannot be known (say, a new field whose
   * value depends on entries the old state did not keep).
   */
  upgrade?(json: unknown, fromVersion: number): unknown;
  init(): S;
  step(state: S, entry: Record<string, unknown>): void;
  toJSON(state: S): unknown;
  fromJSON(json: unknown): S;
  /** What to write; called only when at least one entry has been counted. */
  outputs(state: S, ctx: OutputContext): OutputFile[];
}

/** Where an output goes: <root>/metrics, <out>/metrics, or <out> itself. */
export type OutputPlace = 'metrics' | 'out-metrics' | 'out';

export interface OutputFile {
  place: OutputPlace;
  name: string;
  data: unknown;
  /** Written only when absent, never rewritten (baseline.json). */
  once?: boolean;
}

export interface OutputContext {
  /** ISO time of this pass, for updated_at fields. */
  now: string;
  /** An output as it is on disk now (parsed), or undefined. */
  existing(place: OutputPlace, name: string): unknown;
}

/** Finite numbers round-trip through JSON; the rare overflow to ±Infinity is kept as a string. */
export function encodeNumber(x: number): number | string {
  return Number.isFinite(x) ? x : String(x);
}

export function decodeNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

export function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
