import { expect } from 'chai';
import { lastTimeOfDay, sealReason, type ActiveStats, type RotationLimits } from '../../lib/store/rotation.js';

const NONE: RotationLimits = { maxBytes: 0, maxLines: 0, rotateIntervalMs: 0, rotateAt: undefined };
const at = (iso: string) => Date.parse(iso);
const stats = (size: number, lines: number, openedAt?: string): ActiveStats => ({ size, lines, openedAtMs: openedAt ? at(openedAt) : undefined });

/** Runs `body` with the process's local time zone set to `tz`. */
function inZone(tz: string, body: () => void): void {
  const before = process.env['TZ'];
  process.env['TZ'] = tz;
  try {
    body();
  } finally {
    if (before === undefined) delete process.env['TZ'];
    else process.env['TZ'] = before;
  }
}

describe('store/rotation: when to seal, as a pure function', () => {
  const cases: Array<[string, Partial<RotationLimits>, ActiveStats, number, string, string | undefined]> = [
    ['no limit: never', {}, stats(10_000, 99, '2020-01-01T00:00:00Z'), 10, '2026-01-01T00:00:00Z', undefined],
    ['an empty active segment is never sealed', { maxLines: 1, maxBytes: 1, rotateIntervalMs: 1 }, stats(0, 0, '2020-01-01T00:00:00Z'), 50, '2026-01-01T00:00:00Z', undefined],
    ['lines: under the limit', { maxLines: 3 }, stats(20, 2), 10, '2026-01-01T00:00:00Z', undefined],
    ['lines: the next line would pass it', { maxLines: 3 }, stats(30, 3), 10, '2026-01-01T00:00:00Z', 'max lines 3'],
    ['bytes: exactly full after the line is fine', { maxBytes: 100 }, stats(90, 9), 10, '2026-01-01T00:00:00Z', undefined],
    ['bytes: one byte over', { maxBytes: 100 }, stats(91, 9), 10, '2026-01-01T00:00:00Z', 'max bytes 100'],
    ['bytes: a line larger than the limit goes alone into an empty segment', { maxBytes: 100 }, stats(0, 0), 500, '2026-01-01T00:00:00Z', undefined],
    ['bytes: ... and seals what is before it', { maxBytes: 100 }, stats(5, 1), 500, '2026-01-01T00:00:00Z', 'max bytes 100'],
    ['lines win over bytes when both apply', { maxLines: 1, maxBytes: 1 }, stats(10, 1), 10, '2026-01-01T00:00:00Z', 'max lines 1'],
    ['interval: young', { rotateIntervalMs: 3_600_000 }, stats(10, 1, '2026-01-01T00:00:00Z'), 10, '2026-01-01T00:59:59.999Z', undefined],
    ['interval: old enough', { rotateIntervalMs: 3_600_000 }, stats(10, 1, '2026-01-01T00:00:00Z'), 10, '2026-01-01T01:00:00Z', 'rotate interval 3600000 ms'],
    ['interval: opened time unknown', { rotateIntervalMs: 1 }, stats(10, 1), 10, '2026-01-01T01:00:00Z', undefined],
    ['at 00:00: opened yesterday, now after midnight', { rotateAt: { hour: 0, minute: 0 } }, stats(10, 1, '2026-01-01T23:59:00Z'), 10, '2026-01-02T00:00:00Z', 'rotate at 00:00'],
    ['at 00:00: opened and appended the same day', { rotateAt: { hour: 0, minute: 0 } }, stats(10, 1, '2026-01-02T00:00:00Z'), 10, '2026-01-02T23:59:59Z', undefined],
    ['at 00:00: opened days ago', { rotateAt: { hour: 0, minute: 0 } }, stats(10, 1, '2025-12-20T12:00:00Z'), 10, '2026-01-02T08:00:00Z', 'rotate at 00:00'],
    ['at 06:30: opened 06:00, now 06:29', { rotateAt: { hour: 6, minute: 30 } }, stats(10, 1, '2026-01-02T06:00:00Z'), 10, '2026-01-02T06:29:59Z', undefined],
    ['at 06:30: opened 06:00, now 06:30', { rotateAt: { hour: 6, minute: 30 } }, stats(10, 1, '2026-01-02T06:00:00Z'), 10, '2026-01-02T06:30:00Z', 'rotate at 06:30'],
    ['at 06:30: opened 07:00 yesterday, now 06:00', { rotateAt: { hour: 6, minute: 30 } }, stats(10, 1, '2026-01-01T07:00:00Z'), 10, '2026-01-02T06:00:00Z', undefined],
    ['at 06:30: opened 07:00 yesterday, now 06:31', { rotateAt: { hour: 6, minute: 30 } }, stats(10, 1, '2026-01-01T07:00:00Z'), 10, '2026-01-02T06:31:00Z', 'rotate at 06:30'],
  ];
  for (const [name, limits, active, lineBytes, now, expected] of cases) {
    it(`${name}: ${expected ?? 'no seal'}`, () => {
      inZone('UTC', () => expect(sealReason({ ...NONE, ...limits }, active, lineBytes, at(now))).to.equal(expected));
    });
  }

  it('a time of day is local time: the same instant is past 00:00 in one zone and not in another', () => {
    const limits = { ...NONE, rotateAt: { hour: 0, minute: 0 } };
    // Opened 2026-01-02 04:00 UTC, appended 06:00 UTC: in UTC no midnight in between;
    // in New York (UTC-5) local midnight was at 05:00 UTC.
    const active = stats(10, 1, '2026-01-02T04:00:00Z');
    inZone('UTC', () => expect(sealReason(limits, active, 10, at('2026-01-02T06:00:00Z'))).to.equal(undefined));
    inZone('America/New_York', () => expect(sealReason(limits, active, 10, at('2026-01-02T06:00:00Z'))).to.equal('rotate at 00:00'));
    inZone('Asia/Tokyo', () => expect(lastTimeOfDay({ hour: 0, minute: 0 }, at('2026-01-02T06:00:00Z'))).to.equal(at('2026-01-01T15:00:00Z')));
  });

  it('across a DST change the time of day is still the wall-clock one', () => {
    inZone('Europe/Berlin', () => {
      // 2026-03-29: clocks go from 02:00 to 03:00 (UTC+1 to UTC+2).
      expect(lastTimeOfDay({ hour: 1, minute: 0 }, at('2026-03-29T12:00:00Z'))).to.equal(at('2026-03-29T00:00:00Z'));
      expect(lastTimeOfDay({ hour: 4, minute: 0 }, at('2026-03-29T12:00:00Z'))).to.equal(at('2026-03-29T02:00:00Z'));
      // Before today's 04:00: yesterday's, still on winter time.
      expect(lastTimeOfDay({ hour: 4, minute: 0 }, at('2026-03-29T01:00:00Z'))).to.equal(at('2026-03-28T03:00:00Z'));
    });
  });
});
