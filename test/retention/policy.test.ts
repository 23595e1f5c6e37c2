import { expect } from 'chai';
import { expiredCount, hasLimit } from '../../lib/retention/policy.js';
import type { RetentionCandidate } from '../../lib/retention/policy.js';

const HOUR = 3600_000;
const NOW = Date.UTC(2026, 0, 10);

/** Segments 1..n, oldest first; segment i was sealed (n - i + 1) hours ago and holds sizes[i-1] bytes. */
function segments(sizes: number[]): RetentionCandidate[] {
  return sizes.map((storedBytes, i) => ({
    seq: i + 1,
    file: `seg-${i + 1}`,
    storedBytes,
    sealedAtMs: NOW - (sizes.length - i) * HOUR,
  }));
}

describe('retention policy: expiredCount', () => {
  const ten = segments([100, 100, 100, 100, 100, 100, 100, 100, 100, 100]);

  it('undefined limits delete nothing', () => {
    expect(hasLimit({})).to.equal(false);
    expect(expiredCount(ten, {}, NOW)).to.equal(0);
    expect(expiredCount(ten, { maxSegments: undefined, maxAgeMs: undefined, maxBytes: undefined }, NOW)).to.equal(0);
  });

  it('count: keeps the newest N', () => {
    expect(expiredCount(ten, { maxSegments: 3 }, NOW)).to.equal(7);
    expect(expiredCount(ten, { maxSegments: 9 }, NOW)).to.equal(1);
    expect(expiredCount(ten, { maxSegments: 10 }, NOW)).to.equal(0);
    expect(expiredCount(ten, { maxSegments: 50 }, NOW)).to.equal(0);
  });

  it('age: deletes segments sealed longer ago than the limit, not those exactly at it', () => {
    // Segment 1 is 10 h old, segment 10 is 1 h old.
    expect(expiredCount(ten, { maxAgeMs: 4 * HOUR }, NOW)).to.equal(6);
    expect(expiredCount(ten, { maxAgeMs: 4 * HOUR - 1 }, NOW)).to.equal(7);
    expect(expiredCount(ten, { maxAgeMs: 10 * HOUR }, NOW)).to.equal(0);
    expect(expiredCount(ten, { maxAgeMs: 30 * 24 * HOUR }, NOW)).to.equal(0);
  });

  it('age: stops at the first segment young enough, even when a later one carries an old clock (issue 9 item 8)', () => {
    // Segment 1 carries the newest sealing time (a clock stepped back later): it holds the rest back.
    const odd = segments([1, 1, 1, 1]);
    odd[0]!.sealedAtMs = NOW;
    expect(expiredCount(odd, { maxAgeMs: 2.5 * HOUR }, NOW)).to.equal(0);
    // A segment sealed under a clock set to 2020 does not drag the seconds-old ones before it.
    const wrong = segments([1, 1, 1, 1]).map((s) => ({ ...s, sealedAtMs: NOW - 1000 }));
    wrong[2]!.sealedAtMs = Date.UTC(2020, 0, 1);
    expect(expiredCount(wrong, { maxAgeMs: 30 * 24 * HOUR }, NOW)).to.equal(0);
  });

  it('bytes: keeps the newest segments whose stored bytes fit', () => {
    const mixed = segments([500, 10, 300, 200, 100]);
    expect(expiredCount(mixed, { maxBytes: 300 }, NOW)).to.equal(3);
    expect(expiredCount(mixed, { maxBytes: 299 }, NOW)).to.equal(4);
    expect(expiredCount(mixed, { maxBytes: 600 }, NOW)).to.equal(2);
    expect(expiredCount(mixed, { maxBytes: 610 }, NOW)).to.equal(1);
    expect(expiredCount(mixed, { maxBytes: 1110 }, NOW)).to.equal(0);
    // The newest alone is too big: nothing fits.
    expect(expiredCount(mixed, { maxBytes: 99 }, NOW)).to.equal(5);
  });

  it('0 keeps no sealed segment, for every limit', () => {
    expect(expiredCount(ten, { maxSegments: 0 }, NOW)).to.equal(10);
    expect(expiredCount(ten, { maxAgeMs: 0 }, NOW)).to.equal(10);
    expect(expiredCount(ten, { maxBytes: 0 }, NOW)).to.equal(10);
  });

  it('combined: the union of what each limit deletes, always a prefix of the oldest', () => {
    const mixed = segments([500, 10, 300, 200, 100, 50, 50, 50]);
    const policies = [
      { maxSegments: 6 }, // 2
      { maxAgeMs: 4.5 * HOUR }, // segments 1..4 are older: 4
      { maxBytes: 260 }, // 100+50+50+50 = 250 fits, +200 does not: 4
      { maxBytes: 500 }, // 450 fits, +300 does not: 3
    ];
    const alone = policies.map((p) => expiredCount(mixed, p, NOW));
    expect(alone).to.deep.equal([2, 4, 4, 3]);
    expect(expiredCount(mixed, { maxSegments: 6, maxBytes: 500 }, NOW)).to.equal(3);
    expect(expiredCount(mixed, { maxSegments: 6, maxAgeMs: 4.5 * HOUR }, NOW)).to.equal(4);
    expect(expiredCount(mixed, { maxSegments: 7, maxAgeMs: 100 * HOUR, maxBytes: 10_000 }, NOW)).to.equal(1);
    expect(expiredCount(mixed, { maxSegments: 100, maxAgeMs: 100 * HOUR, maxBytes: 10_000 }, NOW)).to.equal(0);
    expect(expiredCount(mixed, { maxSegments: 100, maxAgeMs: 0, maxBytes: 10_000 }, NOW)).to.equal(8);
  });

  it('combined over many random histories: the result is the largest single-limit prefix', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 500; round++) {
      const segs = segments(Array.from({ length: rand(12) }, () => 1 + rand(400)));
      const policy = {
        ...(rand(2) ? { maxSegments: rand(14) } : {}),
        ...(rand(2) ? { maxAgeMs: rand(14) * HOUR } : {}),
        ...(rand(2) ? { maxBytes: rand(2000) } : {}),
      };
      const n = expiredCount(segs, policy, NOW);
      const single = [
        policy.maxSegments !== undefined ? expiredCount(segs, { maxSegments: policy.maxSegments }, NOW) : 0,
        policy.maxAgeMs !== undefined ? expiredCount(segs, { maxAgeMs: policy.maxAgeMs }, NOW) : 0,
        policy.maxBytes !== undefined ? expiredCount(segs, { maxBytes: policy.maxBytes }, NOW) : 0,
      ];
      expect(n, JSON.stringify({ segs, policy })).to.equal(Math.max(...single));
      expect(n).to.be.within(0, segs.length);
      // What is kept satisfies every limit.
      const kept = segs.slice(n);
      if (policy.maxSegments !== undefined) expect(kept.length).to.be.at.most(policy.maxSegments);
      if (policy.maxBytes !== undefined) expect(kept.reduce((a, s) => a + s.storedBytes, 0)).to.be.at.most(policy.maxBytes);
      if (policy.maxAgeMs !== undefined) for (const s of kept) expect(NOW - s.sealedAtMs).to.be.at.most(policy.maxAgeMs);
      // And nothing more was deleted than needed: keeping one more would break a limit.
      if (n > 0) {
        const more = segs.slice(n - 1);
        const breaks =
          (policy.maxSegments !== undefined && more.length > policy.maxSegments) ||
          (policy.maxBytes !== undefined && more.reduce((a, s) => a + s.storedBytes, 0) > policy.maxBytes) ||
          (policy.maxAgeMs !== undefined && more.some((s) => NOW - s.sealedAtMs > policy.maxAgeMs!));
        expect(breaks, JSON.stringify({ segs, policy, n })).to.equal(true);
      }
    }
  });

  it('an empty store deletes nothing', () => {
    expect(expiredCount([], { maxSegments: 0, maxAgeMs: 0, maxBytes: 0 }, NOW)).to.equal(0);
  });
});
