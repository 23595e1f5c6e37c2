import type { RetentionPolicy } from '../config.js';

export interface RetentionCandidate {
  seq: number;
  file: string;
  storedBytes: number;
  sealedAtMs: number;
}

/**
 * How many of the oldest sealed segments (ascending by seq) the policy
 * deletes: always a prefix, so the retained base covers a contiguous range
 * of seq. By count or bytes, a segment past the limit goes with every older
 * one. By age, deletion stops at the first segment young enough: a segment
 * sealed under a wrong clock (a year in the past) must not take newer ones
 * with it; it goes once those before it are old enough too.
 */
export function expiredCount(segments: readonly RetentionCandidate[], policy: RetentionPolicy, nowMs: number): number {
  let n = 0;
  if (policy.maxSegments !== undefined) n = Math.max(n, segments.length - policy.maxSegments);
  if (policy.maxAgeMs !== undefined) {
    let old = 0;
    while (old < segments.length && nowMs - segments[old]!.sealedAtMs > policy.maxAgeMs) old++;
    n = Math.max(n, old);
  }
  if (policy.maxBytes !== undefined) {
    let kept = 0;
    for (let i = segments.length - 1; i >= 0; i--) {
      kept += segments[i]!.storedBytes;
      if (kept > policy.maxBytes) {
        n = Math.max(n, i + 1);
        break;
      }
    }
  }
  return Math.max(0, n);
}

export function hasLimit(policy: RetentionPolicy): boolean {
  return policy.maxSegments !== undefined || policy.maxAgeMs !== undefined || policy.maxBytes !== undefined;
}
