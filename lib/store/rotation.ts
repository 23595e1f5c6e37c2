/**
 * When the active segment is sealed: a pure function of the limits, the
 * active segment as it stands, the next line and the time. A new trigger is
 * one branch here and one row in config.ts.
 */

import type { TimeOfDay } from '../config.js';

export type { TimeOfDay };

export interface RotationLimits {
  /** 0: no limit. */
  maxBytes: number;
  /** 0: no limit. */
  maxLines: number;
  /** 0: no interval. */
  rotateIntervalMs: number;
  rotateAt?: TimeOfDay | undefined;
}

export interface ActiveStats {
  size: number;
  /** Counted only when `needsLineCount`: it costs a scan of the active file. */
  lines: number;
  /** When the active segment was opened; looked up only when `needsOpenedAt`. */
  openedAtMs: number | undefined;
}

export function needsLineCount(limits: RotationLimits): boolean {
  return limits.maxLines > 0;
}

export function needsOpenedAt(limits: RotationLimits): boolean {
  return limits.rotateIntervalMs > 0 || limits.rotateAt !== undefined;
}

/** Whether any trigger can seal a segment (each trigger is one of the three above). */
export function rotationOn(limits: RotationLimits): boolean {
  return limits.maxBytes > 0 || needsLineCount(limits) || needsOpenedAt(limits);
}

/** The latest moment at or before `nowMs` when local wall-clock time read `at`. */
export function lastTimeOfDay(at: TimeOfDay, nowMs: number): number {
  const d = new Date(nowMs);
  d.setHours(at.hour, at.minute, 0, 0);
  if (d.getTime() > nowMs) {
    // Yesterday's: set the day first, then the time again (a DST change shifts the hours).
    d.setDate(d.getDate() - 1);
    d.setHours(at.hour, at.minute, 0, 0);
  }
  return d.getTime();
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

export function formatTimeOfDay(at: TimeOfDay): string {
  return `${pad(at.hour)}:${pad(at.minute)}`;
}

/**
 * Why the active segment must be sealed before appending a line of
 * `lineBytes` (newline included) at `nowMs`, or undefined. An empty active
 * segment is never sealed.
 */
export function sealReason(limits: RotationLimits, active: ActiveStats, lineBytes: number, nowMs: number): string | undefined {
  if (active.size === 0) return undefined;
  if (limits.maxLines > 0 && active.lines + 1 > limits.maxLines) return `max lines ${limits.maxLines}`;
  if (limits.maxBytes > 0 && active.size + lineBytes > limits.maxBytes) return `max bytes ${limits.maxBytes}`;
  const opened = active.openedAtMs;
  if (opened === undefined) return undefined;
  if (limits.rotateIntervalMs > 0 && nowMs - opened >= limits.rotateIntervalMs) return `rotate interval ${limits.rotateIntervalMs} ms`;
  if (limits.rotateAt !== undefined && opened < lastTimeOfDay(limits.rotateAt, nowMs)) return `rotate at ${formatTimeOfDay(limits.rotateAt)}`;
  return undefined;
}
