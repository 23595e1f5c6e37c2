import { CHECKED_FIELD_COUNT, missingFieldsOf } from '../aggregate/orchestrator.js';
import { decodeNumber, encodeNumber, isFiniteNumber, type Reducer } from '../aggregate/reducer.js';
import { timeOf } from '../store/store.js';

/**
 * The report's own series, fed run by run like any reducer and kept by the
 * same checkpoint machinery (metrics/aggregate-state.report.json): a report
 * never scans the history. Per day and per epoch, so it stays small at any
 * history (a day is one small record, ~365 a year).
 */
export interface DayAgg {
  runs: number;
  succeeded: number;
  durationSum: number;
  durationCount: number;
  /** Checked fields missing, summed over the day's runs (completeness.json's rules). */
  missing: number;
}

export interface EpochAgg {
  runs: number;
  succeeded: number;
  tokens: number;
  costUsd: number;
}

export interface ReportState {
  /** UTC day (YYYY-MM-DD) of recorded_at -> totals, in first-seen order. */
  days: Map<string, DayAgg>;
  epochs: Map<number, EpochAgg>;
  /** Runs whose recorded_at does not parse: in no day. */
  undated: number;
}

const DAY_KEYS = ['runs', 'succeeded', 'durationSum', 'durationCount', 'missing'] as const;
const EPOCH_KEYS = ['runs', 'succeeded', 'tokens', 'costUsd'] as const;

function encode<K extends string>(o: Record<K, number>, keys: readonly K[]): Array<number | string> {
  return keys.map((k) => encodeNumber(o[k]));
}

function decode<K extends string>(a: unknown, keys: readonly K[]): Record<K, number> {
  if (!Array.isArray(a) || a.length !== keys.length) throw new Error('not a report reducer state');
  return Object.fromEntries(keys.map((k, i) => [k, decodeNumber(a[i])])) as Record<K, number>;
}

export const reportReducer: Reducer<ReportState> = {
  name: 'report',
  version: 1,

  init() {
    return { days: new Map(), epochs: new Map(), undated: 0 };
  },

  step(s, e) {
    const at = e['recorded_at'];
    const ms = timeOf(typeof at === 'string' ? at : null);
    const succeeded = e['status'] === 'succeeded' ? 1 : 0;
    if (ms === undefined) {
      s.undated++;
    } else {
      const key = new Date(ms).toISOString().slice(0, 10);
      let d = s.days.get(key);
      if (!d) s.days.set(key, (d = { runs: 0, succeeded: 0, durationSum: 0, durationCount: 0, missing: 0 }));
      d.runs++;
      d.succeeded += succeeded;
      const duration = e['duration_seconds'];
      if (isFiniteNumber(duration)) {
        d.durationSum += duration;
        d.durationCount++;
      }
      d.missing += missingFieldsOf(e).length;
    }
    const epoch = e['tfgrpo_epoch'];
    if (isFiniteNumber(epoch)) {
      let ep = s.epochs.get(epoch);
      if (!ep) s.epochs.set(epoch, (ep = { runs: 0, succeeded: 0, tokens: 0, costUsd: 0 }));
      ep.runs++;
      ep.succeeded += succeeded;
      if (isFiniteNumber(e['token_total'])) ep.tokens += e['token_total'];
      if (isFiniteNumber(e['cost_usd'])) ep.costUsd += e['cost_usd'];
    }
  },

  toJSON(s) {
    return {
      days: [...s.days].map(([k, d]) => [k, encode(d, DAY_KEYS)]),
      epochs: [...s.epochs].map(([k, ep]) => [k, encode(ep, EPOCH_KEYS)]),
      undated: s.undated,
    };
  },

  fromJSON(json) {
    const j = json as { days: Array<[string, unknown]>; epochs: Array<[number, unknown]>; undated: number };
    if (typeof j !== 'object' || j === null || !Array.isArray(j.days) || !Array.isArray(j.epochs) || !Number.isSafeInteger(j.undated)) {
      throw new Error('not a report reducer state');
    }
    return {
      days: new Map(j.days.map(([k, d]) => [k, decode(d, DAY_KEYS)])),
      epochs: new Map(j.epochs.map(([k, ep]) => [k, decode(ep, EPOCH_KEYS)])),
      undated: j.undated,
    };
  },

  // The page is written by the report command, from these series and the six outputs.
  outputs() {
    return [];
  },
};

/** What the page plots, ascending: arrays of equal length per chart. */
export interface ReportSeries {
  days: string[];
  runs: number[];
  failures: number[];
  completionRate: number[];
  /** Mean duration of the day's runs (null: none had one), and the mean of all runs to that day. */
  mttr: Array<number | null>;
  mttrToDate: Array<number | null>;
  missingRatio: number[];
  epochs: number[];
  epochRuns: number[];
  epochCompletionRate: number[];
  epochTokens: number[];
  epochCostUsd: number[];
  undated: number;
}

export function seriesOf(s: ReportState): ReportSeries {
  const days = [...s.days].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const epochs = [...s.epochs].sort(([a], [b]) => a - b);
  let sum = 0;
  let count = 0;
  return {
    days: days.map(([k]) => k),
    runs: days.map(([, d]) => d.runs),
    failures: days.map(([, d]) => d.runs - d.succeeded),
    completionRate: days.map(([, d]) => d.succeeded / d.runs),
    mttr: days.map(([, d]) => (d.durationCount > 0 ? d.durationSum / d.durationCount : null)),
    mttrToDate: days.map(([, d]) => {
      sum += d.durationSum;
      count += d.durationCount;
      return count > 0 ? sum / count : null;
    }),
    missingRatio: days.map(([, d]) => d.missing / (CHECKED_FIELD_COUNT * d.runs)),
    epochs: epochs.map(([k]) => k),
    epochRuns: epochs.map(([, e]) => e.runs),
    epochCompletionRate: epochs.map(([, e]) => e.succeeded / e.runs),
    epochTokens: epochs.map(([, e]) => e.tokens),
    epochCostUsd: epochs.map(([, e]) => Math.round(e.costUsd * 1e6) / 1e6),
    undated: s.undated,
  };
}
