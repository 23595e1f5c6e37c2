/**
 * Orchestrator-shaped entries for examples: deterministic for a seed, so the
 * demo prints the same story every time.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOOLS = ['cli:command', 'web:fetch', 'fs:edit', 'test:run'];
const PIPELINES = ['build', 'test', 'deploy', 'lint'];

export function syntheticRun(i: number, rand: () => number, startMs = Date.UTC(2026, 0, 1)): Record<string, unknown> {
  const succeeded = rand() < 0.93;
  const tools = TOOLS.filter(() => rand() < 0.5);
  return {
    run_id: `run-${String(i).padStart(7, '0')}`,
    task_id: 'demo-task',
    pipeline_id: PIPELINES[i % PIPELINES.length],
    status: succeeded ? 'succeeded' : 'failed',
    recorded_at: new Date(startMs + i * 90_000).toISOString(),
    duration_seconds: Math.round((30 + rand() * 600) * 1000) / 1000,
    instance_stats: rand() < 0.97 ? [{ instance_id: `inst-${i % 8}`, status: 'ok', attempts: 1 + Math.floor(rand() * 3) }] : [],
    privacy_events: rand() < 0.98 ? [{ action: 'allow', stage_id: 'build' }] : [],
    control_plane_status: rand() < 0.99 ? 'healthy' : 'unknown',
    tfgrpo_epoch: 1 + Math.floor(i / 1000),
    tfgrpo_group_size: 2 + Math.floor(rand() * 3),
    tool_calls: tools.length,
    token_total: Math.floor(rand() * 5000),
    cost_usd: Math.round(rand() * 1e6) / 1e8,
    latency_ms: Math.floor(rand() * 20_000),
    tool_stats: tools.map((tool) => ({ tool, tokens: Math.floor(rand() * 2000), cost_usd: rand() / 1000, latency_ms: Math.floor(rand() * 5000) })),
    learning_validation_status: rand() < 0.9 ? 'validated' : 'stalled_snapshot',
    learning_review_latency_ms: Math.floor(rand() * 3000),
  };
}
