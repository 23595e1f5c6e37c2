import type { RetentionPolicy } from '../config.js';
import { expiredCount, hasLimit, type RetentionCandidate } from './policy.js';

/**
 * Something that must be done with a segment before retention may delete it.
 * Every segment with seq <= `seq` is done for this holder. An `advances`
 * floor is one retention brings forward itself before deleting (a reducer's
 * retained base: it folds); any other floor caps what may be deleted (an
 * archive: a segment not yet archived is kept).
 */
export interface Floor {
  /** Who holds it, for logs and the dry run ("reducer orchestrator", "archive"). */
  name: string;
  seq: number;
  advances: boolean;
}

export interface RetentionPlan<C extends RetentionCandidate = RetentionCandidate> {
  /** The oldest sealed segments, in seq order: always a prefix. */
  delete: C[];
  keep: C[];
  /** Highest seq deleted (0: nothing). */
  through: number;
  /** Advancing floors below `through`: what must be folded first. */
  advance: Floor[];
  /** The floor that kept segments the policy would delete, if one did. */
  heldBy: Floor | undefined;
}

/**
 * What retention deletes, decided without touching a file: the oldest
 * segments past the policy, plus those every advancing floor already covers
 * (an interrupted run folded them but did not delete them), never past a
 * capping floor. Always a prefix, so the retained base covers a contiguous
 * range of seq.
 */
export function planRetention<C extends RetentionCandidate>(segments: readonly C[], policy: RetentionPolicy, floors: readonly Floor[], nowMs: number): RetentionPlan<C> {
  let n = hasLimit(policy) ? expiredCount(segments, policy, nowMs) : 0;
  const advancing = floors.filter((f) => f.advances);
  if (advancing.length > 0) {
    const done = Math.min(...advancing.map((f) => f.seq));
    n = Math.max(n, segments.filter((s) => s.seq <= done).length);
  }
  let heldBy: Floor | undefined;
  for (const f of floors) {
    if (f.advances) continue;
    const allowed = segments.filter((s) => s.seq <= f.seq).length;
    if (allowed < n) {
      n = allowed;
      heldBy = f;
    }
  }
  const through = n > 0 ? segments[n - 1]!.seq : 0;
  return {
    delete: segments.slice(0, n),
    keep: segments.slice(n),
    through,
    advance: advancing.filter((f) => f.seq < through),
    heldBy,
  };
}
