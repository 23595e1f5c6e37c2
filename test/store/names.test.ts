import { expect } from 'chai';
import { compactTime, comparePositions, isStoreTempName, parseSegmentName, segmentFileName, storePaths } from '../../lib/store/names.js';

describe('store/names', () => {
  const at = Date.UTC(2026, 0, 6, 7, 49, 3, 214);

  it('names a segment metrics-<8-digit seq>-<YYYYMMDDTHHMMSSmmmZ>.jsonl', () => {
    expect(segmentFileName(1, at, false)).to.equal('metrics-00000001-20260106T074903214Z.jsonl');
    expect(segmentFileName(12345678, at, false)).to.equal('metrics-12345678-20260106T074903214Z.jsonl');
    expect(segmentFileName(7, at, true)).to.equal('metrics-00000007-20260106T074903214Z.jsonl.gz');
  });

  it('keeps millisecond zeros and midnight in the time part', () => {
    expect(compactTime(Date.UTC(2026, 11, 31, 0, 0, 0, 5))).to.equal('20261231T000000005Z');
  });

  it('sorts names as plain strings in seq order', () => {
    const names = [3, 10, 1, 100, 2].map((seq, i) => segmentFileName(seq, at - i * 1000, false));
    expect([...names].sort().map((n) => parseSegmentName(n)!.seq)).to.deep.equal([1, 2, 3, 10, 100]);
  });

  it('round-trips seq, time and compression through the name', () => {
    for (const [seq, ms, gz] of [[1, at, false], [99999999, 0, true], [42, Date.UTC(2024, 1, 29, 23, 59, 59, 999), false]] as const) {
      const file = segmentFileName(seq, ms, gz);
      expect(parseSegmentName(file)).to.deep.equal({ seq, sealedAtMs: ms, compressed: gz, file });
    }
  });

  it('accepts a seq longer than 8 digits (it only grows)', () => {
    expect(parseSegmentName('metrics-123456789-20260106T074903214Z.jsonl')?.seq).to.equal(123456789);
  });

  it('rejects names that are not segments', () => {
    for (const bad of [
      'metrics.json',
      'index.json',
      'metrics-1-20260106T074903214Z.jsonl', // seq not padded
      'metrics-0000001-20260106T074903214Z.jsonl', // 7 digits
      'metrics-0000000a-20260106T074903214Z.jsonl',
      'metrics-00000001-20260106T074903214.jsonl', // no Z
      'metrics-00000001-20260106T07490321Z.jsonl', // 2-digit ms
      'metrics-00000001-2026010T074903214Z.jsonl',
      'metrics-00000001-20260106T074903214Z.json',
      'metrics-00000001-20260106T074903214Z.jsonl.bz2',
      'metrics-00000001-20260106T074903214Z.jsonl.gz.tmp',
      '.metrics-00000001-20260106T074903214Z.jsonl.gz.tmp',
      'xmetrics-00000001-20260106T074903214Z.jsonl',
      'metrics-00000001-20260106T074903214Z.jsonl ',
    ]) {
      expect(parseSegmentName(bad), bad).to.equal(undefined);
    }
  });

  it('rejects impossible dates and times instead of normalizing them', () => {
    for (const time of ['20261306T074903214Z', '20260230T074903214Z', '20250229T000000000Z', '20260100T000000000Z', '20260106T240000000Z', '20260106T076003214Z', '20260106T074960214Z']) {
      expect(parseSegmentName(`metrics-00000001-${time}.jsonl`), time).to.equal(undefined);
    }
    expect(parseSegmentName('metrics-00000001-20240229T000000000Z.jsonl')?.sealedAtMs).to.equal(Date.UTC(2024, 1, 29));
  });

  it('recognizes only the store\'s own temp names', () => {
    expect(isStoreTempName('index.json.1234567')).to.equal(true);
    expect(isStoreTempName('.metrics-00000003-20260106T074903214Z.jsonl.gz.tmp')).to.equal(true);
    expect(isStoreTempName('index.json')).to.equal(false);
    expect(isStoreTempName('index.json.bak')).to.equal(false);
    expect(isStoreTempName('notes.tmp')).to.equal(false);
  });

  it('orders positions by seq, then offset', () => {
    expect(comparePositions({ seq: 1, offset: 900 }, { seq: 2, offset: 0 })).to.be.lessThan(0);
    expect(comparePositions({ seq: 2, offset: 10 }, { seq: 2, offset: 9 })).to.be.greaterThan(0);
    expect(comparePositions({ seq: 3, offset: 5 }, { seq: 3, offset: 5 })).to.equal(0);
  });

  it('lays the store out as the contract says', () => {
    const p = storePaths('/r');
    expect(p).to.deep.equal({
      root: '/r',
      active: '/r/metrics.json',
      lock: '/r/metrics.lock',
      pending: '/r/metrics.pending',
      segments: '/r/metrics.segments',
      index: '/r/metrics.segments/index.json',
      storeFile: '/r/metrics.segments/store.json',
      corrupt: '/r/metrics.corrupt',
      metrics: '/r/metrics',
      aggregateLock: '/r/metrics/aggregate.lock',
    });
  });
});
