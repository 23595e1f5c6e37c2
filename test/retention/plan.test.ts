import { expect } from 'chai';
import type { RetentionPolicy } from '../../lib/config.js';
import { planRetention, type Floor } from '../../lib/retention/plan.js';
import type { RetentionCandidate } from '../../lib/retention/policy.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

/** Sealed segments with these seqs, sealed `age` days ago each (default: 10 - index days), 100 bytes each. */
function segs(seqs: number[], ages?: number[]): RetentionCandidate[] {
  return seqs.map((seq, i) => ({ seq, file: `s${seq}`, storedBytes: 100, sealedAtMs: NOW - (ages?.[i] ?? 10 - i) * DAY }));
}

const base = (seq: number): Floor => ({ name: 'reducer orchestrator', seq, advances: true });
const archive = (seq: number): Floor => ({ name: 'archive', seq, advances: false });

describe('retention plan: (segments, policy, floors, now) -> what to delete, without files', () => {
  const cases: Array<{ name: string; segments: RetentionCandidate[]; policy: RetentionPolicy; floors: Floor[]; del: number[]; advance?: string[]; heldBy?: string }> = [
    { name: 'no policy, nothing folded: nothing', segments: segs([1, 2, 3]), policy: {}, floors: [base(0)], del: [] },
    { name: 'count: the oldest past the limit', segments: segs([1, 2, 3, 4]), policy: { maxSegments: 1 }, floors: [base(0)], del: [1, 2, 3], advance: ['reducer orchestrator'] },
    { name: 'folded by an interrupted run: deleted whatever the policy', segments: segs([3, 4, 5]), policy: {}, floors: [base(4)], del: [3, 4], advance: [] },
    { name: 'several reducer bases: only what all of them folded', segments: segs([1, 2, 3]), policy: {}, floors: [base(2), { name: 'reducer pipelines', seq: 1, advances: true }], del: [1] },
    { name: 'each base below the deletion is advanced', segments: segs([1, 2, 3]), policy: { maxSegments: 0 }, floors: [base(3), { name: 'reducer pipelines', seq: 1, advances: true }], del: [1, 2, 3], advance: ['reducer pipelines'] },
    { name: 'a capping floor keeps what it has not reached', segments: segs([1, 2, 3, 4]), policy: { maxSegments: 0 }, floors: [base(0), archive(2)], del: [1, 2], heldBy: 'archive' },
    { name: 'a capping floor past the policy changes nothing', segments: segs([1, 2, 3, 4]), policy: { maxSegments: 2 }, floors: [base(0), archive(9)], del: [1, 2] },
    { name: 'a capping floor holds back even folded segments', segments: segs([1, 2, 3]), policy: {}, floors: [base(3), archive(1)], del: [1], heldBy: 'archive' },
    { name: 'age: the oldest past it', segments: segs([1, 2, 3, 4]), policy: { maxAgeMs: 8.5 * DAY }, floors: [base(0)], del: [1, 2] },
    { name: 'age: a segment sealed under a 2020 clock does not drag newer ones', segments: segs([1, 2, 3, 4], [1, 1, (NOW - Date.UTC(2020, 0, 1)) / DAY, 0]), policy: { maxAgeMs: 30 * DAY }, floors: [base(0)], del: [] },
    { name: 'age: ... and goes once everything before it is old enough', segments: segs([1, 2, 3, 4], [40, 35, (NOW - Date.UTC(2020, 0, 1)) / DAY, 0]), policy: { maxAgeMs: 30 * DAY }, floors: [base(0)], del: [1, 2, 3] },
    { name: 'age: a segment from the future holds the rest back', segments: segs([1, 2], [-365, 90]), policy: { maxAgeMs: 30 * DAY }, floors: [base(0)], del: [] },
    { name: 'bytes: keeps the newest that fit', segments: segs([1, 2, 3, 4]), policy: { maxBytes: 250 }, floors: [base(0)], del: [1, 2] },
    { name: 'no segments: nothing', segments: [], policy: { maxSegments: 0 }, floors: [base(5)], del: [] },
    { name: 'no floors at all: only the policy', segments: segs([1, 2, 3]), policy: { maxSegments: 1 }, floors: [], del: [1, 2] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planRetention(c.segments, c.policy, c.floors, NOW);
      expect(plan.delete.map((s) => s.seq)).to.deep.equal(c.del);
      expect(plan.keep.map((s) => s.seq)).to.deep.equal(c.segments.slice(c.del.length).map((s) => s.seq));
      expect(plan.through).to.equal(c.del.at(-1) ?? 0);
      if (c.advance) expect(plan.advance.map((f) => f.name)).to.deep.equal(c.advance);
      expect(plan.heldBy?.name).to.equal(c.heldBy);
    });
  }
});
