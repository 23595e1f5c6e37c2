/**
 * The orchestrator's own aggregator (Kbediako/CO metricsAggregator.ts), as its
 * code behaves, written for the tests: it reads only metrics.json, line by
 * line, skips blank lines, counts a line when it parses to an object with
 * non-empty run_id, status and recorded_at, first of its run_id. Returns the
 * outputs in readOutputs' shape (updated_at left out) so both can be compared.
 */
import type { Outputs } from '../aggregate/helpers.js';

type Entry = Record<string, any>;

function candidate(line: string): Entry | null {
  try {
    const v = JSON.parse(line.trim()) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
    const e = v as Entry;
    for (const f of ['run_id', 'status', 'recorded_at']) if (typeof e[f] !== 'string' || e[f].trim().length === 0) return null;
    return e;
  } catch {
    return null;
  }
}

const round = (v: number) => Math.round(v * 1_000_000) / 1_000_000;
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

export function orchestratorOutputs(metricsJson: string, existingBaseline?: Entry): Outputs {
  const seen = new Set<string>();
  let total = 0;
  let succeeded = 0;
  let baseline: Entry | null = null;
  const missing = { instance_stats: 0, privacy_events: 0, control_plane_status: 0 };
  let durSum = 0;
  let durCount = 0;
  const epochs = new Map<number, { runs: number; tool_calls: number; token_total: number; cost_usd: number; latency_ms: number; gs: number; gc: number; tools: Map<string, { runs: number; tokens: number; cost: number; lat: number }> }>();
  const validation = { passed: 0, failed: 0, stalled: 0, manual: 0 };
  let rej = 0, latSum = 0, latCount = 0, regressions = 0, promoted = 0, deprecated = 0, candidates = 0, alerts = 0, snapFailed = 0, stalledSnap = 0;
  for (const raw of metricsJson.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim().length === 0) continue;
    const e = candidate(line);
    if (!e || seen.has(e.run_id)) continue;
    seen.add(e.run_id);
    total++;
    baseline ??= e;
    if (e.status === 'succeeded') succeeded++;
    if (!Array.isArray(e.instance_stats) || e.instance_stats.length === 0) missing.instance_stats++;
    if (!Array.isArray(e.privacy_events) || e.privacy_events.length === 0) missing.privacy_events++;
    if (!e.control_plane_status || e.control_plane_status === 'unknown') missing.control_plane_status++;
    if (typeof e.duration_seconds === 'number' && Number.isFinite(e.duration_seconds)) {
      durSum += e.duration_seconds;
      durCount++;
    }
    if (typeof e.tfgrpo_epoch === 'number') {
      let a = epochs.get(e.tfgrpo_epoch);
      if (!a) epochs.set(e.tfgrpo_epoch, (a = { runs: 0, tool_calls: 0, token_total: 0, cost_usd: 0, latency_ms: 0, gs: 0, gc: 0, tools: new Map() }));
      a.runs++;
      a.tool_calls += num(e.tool_calls);
      a.token_total += num(e.token_total);
      a.cost_usd += num(e.cost_usd);
      a.latency_ms += num(e.latency_ms);
      if (typeof e.tfgrpo_group_size === 'number' && Number.isFinite(e.tfgrpo_group_size)) {
        a.gs += e.tfgrpo_group_size;
        a.gc++;
      }
      for (const st of Array.isArray(e.tool_stats) ? e.tool_stats : []) {
        if (typeof st.tool !== 'string' || !st.tool) continue;
        const t = a.tools.get(st.tool) ?? { runs: 0, tokens: 0, cost: 0, lat: 0 };
        t.runs++;
        t.tokens += num(st.tokens);
        t.cost += num(st.cost_usd);
        t.lat += num(st.latency_ms);
        a.tools.set(st.tool, t);
      }
    }
    const vs = e.learning_validation_status;
    if (vs === 'validated') validation.passed++;
    else if (vs === 'snapshot_failed') validation.failed++;
    else if (vs === 'stalled_snapshot') validation.stalled++;
    else if (vs === 'needs_manual_scenario') validation.manual++;
    if (typeof e.learning_review_rejections === 'number') rej += e.learning_review_rejections;
    if (typeof e.learning_review_latency_ms === 'number' && Number.isFinite(e.learning_review_latency_ms)) {
      latSum += e.learning_review_latency_ms;
      latCount++;
    }
    if (typeof e.learning_regressions_detected === 'number') regressions += e.learning_regressions_detected;
    if (typeof e.learning_pattern_promoted === 'number') promoted += e.learning_pattern_promoted;
    if (typeof e.learning_pattern_deprecated === 'number') deprecated += e.learning_pattern_deprecated;
    if (typeof e.learning_throughput_candidates === 'number') candidates += e.learning_throughput_candidates;
    if (typeof e.learning_alerts === 'number') alerts += e.learning_alerts;
    if (e.learning_snapshot_status === 'snapshot_failed') snapFailed++;
    if (e.learning_snapshot_status === 'stalled_snapshot') stalledSnap++;
  }
  const out: Outputs = {
    'metrics/baseline.json': undefined,
    'metrics/post-rollout.json': undefined,
    'metrics/completeness.json': undefined,
    'metrics/per-epoch.json': undefined,
    'metrics/mttr-delta.json': undefined,
    'state.json': undefined,
  };
  if (total === 0 || !baseline) return out;
  const b = existingBaseline ?? {
    run_id: baseline.run_id,
    recorded_at: baseline.recorded_at,
    status: baseline.status,
    duration_seconds: baseline.duration_seconds,
    completion_rate: baseline.status === 'succeeded' ? 1 : 0,
  };
  out['metrics/baseline.json'] = b;
  const rate = succeeded / total;
  out['metrics/post-rollout.json'] = { total_runs: total, succeeded_runs: succeeded, completion_rate: rate, meets_threshold: rate >= 0.95 };
  const ratio = (missing.instance_stats + missing.privacy_events + missing.control_plane_status) / (3 * total);
  out['metrics/completeness.json'] = { checked_fields: ['instance_stats', 'privacy_events', 'control_plane_status'], missing_counts: missing, missing_field_ratio: ratio, meets_threshold: ratio < 0.05 };
  if (durCount > 0) {
    const cur = durSum / durCount;
    const base = typeof b.duration_seconds === 'number' ? b.duration_seconds : cur;
    out['metrics/mttr-delta.json'] = { baseline_mttr_seconds: base, current_mttr_seconds: cur, reduction_percent: base > 0 ? (base - cur) / base : 0, meets_threshold: base <= 0 ? true : cur <= base * 0.6 };
  }
  if (epochs.size > 0) {
    out['metrics/per-epoch.json'] = {
      epochs: [...epochs.entries()].sort(([x], [y]) => x - y).map(([epoch, a]) => ({
        epoch,
        runs: a.runs,
        tool_calls: a.tool_calls,
        token_total: a.token_total,
        cost_usd: round(a.cost_usd),
        latency_ms: a.latency_ms,
        group_size_avg: a.gc > 0 ? a.gs / a.gc : null,
        tools: [...a.tools.entries()].map(([tool, t]) => ({ tool, runs: t.runs, tokens: t.tokens, cost_usd: round(t.cost), latency_ms: t.lat })),
      })),
    };
  }
  out['state.json'] = {
    safety: {
      validation,
      reviewer: { rejections: rej, average_latency_ms: latCount > 0 ? latSum / latCount : null },
      regression_detection: { detected: regressions },
      pattern_hygiene: { promoted, deprecated },
    },
    throughput: { candidates },
    alerts: { total: alerts, snapshot_failed: snapFailed, stalled_snapshot: stalledSnap, needs_manual_scenario: validation.manual },
  };
  return out;
}
