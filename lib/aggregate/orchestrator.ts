import { decodeNumber, encodeNumber, isFiniteNumber, type OutputFile, type Reducer } from './reducer.js';

/**
 * The orchestrator's six aggregate files, field for field. Rules (from the
 * contract): numeric fields count only when they are finite numbers;
 * "succeeded" is the exact status string; control_plane_status is missing
 * when absent, empty or "unknown"; arrays are missing when absent or empty.
 */

const CHECKED_FIELDS = ['instance_stats', 'privacy_events', 'control_plane_status'] as const;

interface ToolAgg {
  runs: number;
  tokens: number;
  cost_usd: number;
  latency_ms: number;
}

interface EpochAgg {
  runs: number;
  tool_calls: number;
  token_total: number;
  cost_usd: number;
  latency_ms: number;
  group_size_sum: number;
  group_size_count: number;
  tools: Map<string, ToolAgg>;
}

export interface OrchestratorState {
  totalRuns: number;
  succeededRuns: number;
  baseline: { run_id: unknown; recorded_at: unknown; status: unknown; duration_seconds: unknown; completion_rate: number } | null;
  missing: Record<(typeof CHECKED_FIELDS)[number], number>;
  durationSum: number;
  durationCount: number;
  epochs: Map<number, EpochAgg>;
  validation: { passed: number; failed: number; stalled: number; manual: number };
  reviewerRejections: number;
  reviewerLatencySum: number;
  reviewerLatencyCount: number;
  regressions: number;
  promoted: number;
  deprecated: number;
  candidates: number;
  alertsTotal: number;
  alertsSnapshotFailed: number;
  alertsStalledSnapshot: number;
}

const VALIDATION_BUCKET: Record<string, keyof OrchestratorState['validation']> = {
  validated: 'passed',
  snapshot_failed: 'failed',
  stalled_snapshot: 'stalled',
  needs_manual_scenario: 'manual',
};

function num(v: unknown): number {
  return isFiniteNumber(v) ? v : 0;
}

function missingArray(v: unknown): boolean {
  return !Array.isArray(v) || v.length === 0;
}

/** The checked fields an entry lacks, by completeness.json's rules. */
export function missingFieldsOf(e: Record<string, unknown>): Array<(typeof CHECKED_FIELDS)[number]> {
  const out: Array<(typeof CHECKED_FIELDS)[number]> = [];
  if (missingArray(e['instance_stats'])) out.push('instance_stats');
  if (missingArray(e['privacy_events'])) out.push('privacy_events');
  const cps = e['control_plane_status'];
  if (!cps || cps === 'unknown') out.push('control_plane_status');
  return out;
}

export const CHECKED_FIELD_COUNT = CHECKED_FIELDS.length;

function roundUsd(x: number): number {
  return Math.round(x * 1_000_000) / 1_000_000;
}

// Sums are kept in checkpoints; names of the numeric fields, in one place, so
// toJSON and fromJSON cannot disagree.
const SCALARS = [
  'totalRuns', 'succeededRuns', 'durationSum', 'durationCount', 'reviewerRejections', 'reviewerLatencySum',
  'reviewerLatencyCount', 'regressions', 'promoted', 'deprecated', 'candidates', 'alertsTotal',
  'alertsSnapshotFailed', 'alertsStalledSnapshot',
] as const;
const EPOCH_SCALARS = ['runs', 'tool_calls', 'token_total', 'cost_usd', 'latency_ms', 'group_size_sum', 'group_size_count'] as const;
const TOOL_SCALARS = ['runs', 'tokens', 'cost_usd', 'latency_ms'] as const;

function encodeFields<K extends string>(obj: Record<K, number>, keys: readonly K[]): Record<K, number | string> {
  return Object.fromEntries(keys.map((k) => [k, encodeNumber(obj[k])])) as Record<K, number | string>;
}

function decodeFields<K extends string>(obj: Record<string, unknown>, keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, decodeNumber(obj[k])])) as Record<K, number>;
}

function newEpoch(): EpochAgg {
  return { runs: 0, tool_calls: 0, token_total: 0, cost_usd: 0, latency_ms: 0, group_size_sum: 0, group_size_count: 0, tools: new Map() };
}

export const orchestratorReducer: Reducer<OrchestratorState> = {
  name: 'orchestrator',
  version: 1,

  init() {
    return {
      totalRuns: 0,
      succeededRuns: 0,
      baseline: null,
      missing: { instance_stats: 0, privacy_events: 0, control_plane_status: 0 },
      durationSum: 0,
      durationCount: 0,
      epochs: new Map(),
      validation: { passed: 0, failed: 0, stalled: 0, manual: 0 },
      reviewerRejections: 0,
      reviewerLatencySum: 0,
      reviewerLatencyCount: 0,
      regressions: 0,
      promoted: 0,
      deprecated: 0,
      candidates: 0,
      alertsTotal: 0,
      alertsSnapshotFailed: 0,
      alertsStalledSnapshot: 0,
    };
  },

  step(s, e) {
    s.totalRuns++;
    const succeeded = e['status'] === 'succeeded';
    if (succeeded) s.succeededRuns++;
    const duration = e['duration_seconds'];
    s.baseline ??= {
      run_id: e['run_id'],
      recorded_at: e['recorded_at'],
      status: e['status'],
      // As upstream, the value as recorded (null when absent); only a finite number feeds the MTTR.
      duration_seconds: duration === undefined ? null : duration,
      completion_rate: succeeded ? 1 : 0,
    };
    for (const f of missingFieldsOf(e)) s.missing[f]++;
    if (isFiniteNumber(duration)) {
      s.durationSum += duration;
      s.durationCount++;
    }

    const epochKey = e['tfgrpo_epoch'];
    if (isFiniteNumber(epochKey)) {
      let ep = s.epochs.get(epochKey);
      if (!ep) s.epochs.set(epochKey, (ep = newEpoch()));
      ep.runs++;
      ep.tool_calls += num(e['tool_calls']);
      ep.token_total += num(e['token_total']);
      ep.cost_usd += num(e['cost_usd']);
      ep.latency_ms += num(e['latency_ms']);
      const group = e['tfgrpo_group_size'];
      if (isFiniteNumber(group)) {
        ep.group_size_sum += group;
        ep.group_size_count++;
      }
      const stats = e['tool_stats'];
      if (Array.isArray(stats)) {
        for (const t of stats as Array<Record<string, unknown> | null>) {
          const tool = t?.['tool'];
          if (typeof tool !== 'string' || tool === '') continue;
          let agg = ep.tools.get(tool);
          if (!agg) ep.tools.set(tool, (agg = { runs: 0, tokens: 0, cost_usd: 0, latency_ms: 0 }));
          agg.runs++;
          agg.tokens += num(t!['tokens']);
          agg.cost_usd += num(t!['cost_usd']);
          agg.latency_ms += num(t!['latency_ms']);
        }
      }
    }

    const validation = e['learning_validation_status'];
    if (typeof validation === 'string' && Object.hasOwn(VALIDATION_BUCKET, validation)) s.validation[VALIDATION_BUCKET[validation]!]++;
    s.reviewerRejections += num(e['learning_review_rejections']);
    const latency = e['learning_review_latency_ms'];
    if (isFiniteNumber(latency)) {
      s.reviewerLatencySum += latency;
      s.reviewerLatencyCount++;
    }
    s.regressions += num(e['learning_regressions_detected']);
    s.promoted += num(e['learning_pattern_promoted']);
    s.deprecated += num(e['learning_pattern_deprecated']);
    s.candidates += num(e['learning_throughput_candidates']);
    s.alertsTotal += num(e['learning_alerts']);
    const snapshot = e['learning_snapshot_status'];
    if (snapshot === 'snapshot_failed') s.alertsSnapshotFailed++;
    if (snapshot === 'stalled_snapshot') s.alertsStalledSnapshot++;
  },

  toJSON(s) {
    return {
      ...encodeFields(s as unknown as Record<(typeof SCALARS)[number], number>, SCALARS),
      baseline: s.baseline,
      missing: s.missing,
      validation: s.validation,
      epochs: [...s.epochs].map(([epoch, ep]) => [
        epoch,
        { ...encodeFields(ep, EPOCH_SCALARS), tools: [...ep.tools].map(([tool, t]) => [tool, encodeFields(t, TOOL_SCALARS)]) },
      ]),
    };
  },

  fromJSON(json) {
    const j = json as Record<string, unknown> & {
      baseline: OrchestratorState['baseline'];
      missing: OrchestratorState['missing'];
      validation: OrchestratorState['validation'];
      epochs: Array<[number, Record<string, unknown> & { tools: Array<[string, Record<string, unknown>]> }]>;
    };
    if (typeof j !== 'object' || j === null || !Array.isArray(j.epochs) || typeof j.missing !== 'object' || typeof j.validation !== 'object') {
      throw new Error('not an orchestrator reducer state');
    }
    return {
      ...decodeFields(j, SCALARS),
      baseline: j.baseline,
      missing: { ...j.missing },
      validation: { ...j.validation },
      epochs: new Map(
        j.epochs.map(([epoch, ep]) => [
          epoch,
          { ...decodeFields(ep, EPOCH_SCALARS), tools: new Map(ep.tools.map(([tool, t]) => [tool, decodeFields(t, TOOL_SCALARS)])) },
        ]),
      ),
    };
  },

  outputs(s, ctx) {
    const files: OutputFile[] = [];
    const now = ctx.now;
    if (s.baseline) files.push({ place: 'metrics', name: 'baseline.json', data: s.baseline, once: true });

    const rate = s.totalRuns > 0 ? s.succeededRuns / s.totalRuns : 0;
    files.push({
      place: 'metrics',
      name: 'post-rollout.json',
      data: { total_runs: s.totalRuns, succeeded_runs: s.succeededRuns, completion_rate: rate, meets_threshold: rate >= 0.95, updated_at: now },
    });

    const missingTotal = CHECKED_FIELDS.reduce((sum, f) => sum + s.missing[f], 0);
    const ratio = missingTotal / (CHECKED_FIELDS.length * s.totalRuns);
    files.push({
      place: 'metrics',
      name: 'completeness.json',
      data: {
        checked_fields: [...CHECKED_FIELDS],
        missing_counts: { ...s.missing },
        missing_field_ratio: ratio,
        meets_threshold: ratio < 0.05,
        updated_at: now,
      },
    });

    if (s.epochs.size > 0) {
      const epochs = [...s.epochs]
        .sort(([a], [b]) => a - b)
        .map(([epoch, ep]) => ({
          epoch,
          runs: ep.runs,
          tool_calls: ep.tool_calls,
          token_total: ep.token_total,
          cost_usd: roundUsd(ep.cost_usd),
          latency_ms: ep.latency_ms,
          group_size_avg: ep.group_size_count > 0 ? ep.group_size_sum / ep.group_size_count : null,
          tools: [...ep.tools].map(([tool, t]) => ({ tool, runs: t.runs, tokens: t.tokens, cost_usd: roundUsd(t.cost_usd), latency_ms: t.latency_ms })),
        }));
      files.push({ place: 'metrics', name: 'per-epoch.json', data: { epochs, updated_at: now } });
    }

    if (s.durationCount > 0) {
      const current = s.durationSum / s.durationCount;
      // As upstream: the baseline is what baseline.json says, once it exists.
      const onDisk = ctx.existing('metrics', 'baseline.json') as { duration_seconds?: unknown } | undefined;
      const fromFile = onDisk ? onDisk.duration_seconds : s.baseline?.duration_seconds;
      const base = isFiniteNumber(fromFile) ? fromFile : current;
      files.push({
        place: 'out-metrics',
        name: 'mttr-delta.json',
        data: {
          baseline_mttr_seconds: base,
          current_mttr_seconds: current,
          reduction_percent: base > 0 ? (base - current) / base : 0,
          meets_threshold: base <= 0 || current <= base * 0.6,
          updated_at: now,
        },
      });
    }

    files.push({
      place: 'out',
      name: 'state.json',
      data: {
        updated_at: now,
        safety: {
          validation: { ...s.validation },
          reviewer: {
            rejections: s.reviewerRejections,
            average_latency_ms: s.reviewerLatencyCount > 0 ? s.reviewerLatencySum / s.reviewerLatencyCount : null,
          },
          regression_detection: { detected: s.regressions },
          pattern_hygiene: { promoted: s.promoted, deprecated: s.deprecated },
        },
        throughput: { candidates: s.candidates },
        alerts: {
          total: s.alertsTotal,
          snapshot_failed: s.alertsSnapshotFailed,
          stalled_snapshot: s.alertsStalledSnapshot,
          needs_manual_scenario: s.validation.manual,
        },
      },
    });
    return files;
  },
};
