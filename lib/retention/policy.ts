import type { RetentionPolicy } from '../config.js';

export interface RetentionCandidate {
  seq: number;
  file: string;
  storedBytes: number;
  sealedAtMs: number;
}

/**
 * How many of the oldest sealed segments (ascending by seq) the policy
 * deletes. A segment past any limit goes, and with it every older one:
 * retention always deletes a prefix, so the retained base covers a
 * contiguous range of seq.
 */
export function expiredCount(segments: readonly RetentionCandidate[], policy: RetentionPolicy, nowMs: number): number {
  let n = 0;
  if (policy.maxSegments !== undefined) n = Math.max(n, segments.length - policy.maxSegments);
  if (policy.maxAgeMs !== undefined) {
    for (let i = segments.length - 1; i >= 0; i--) {
      if (nowMs - segments[i]!.sealedAtMs > policy.maxAgeMs) {
        n = Math.max(n, i + 1);
        break;
      }
    }
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
