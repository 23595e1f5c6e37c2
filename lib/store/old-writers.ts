import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { rotationOn } from './rotation.js';

// The orchestrator's own recorder and aggregator read and write only
// metrics.json. Beside them, this store must not seal segments: each sealed
// line vanishes from their aggregates. Their traces (a lock in their format,
// spills under their names) are how a rollout still in progress shows.
const warned = new Set<string>();

/** Warn once per process and root, and only while rotation is on (without it, old and new agree). */
export function noteOldWriters(root: string, config: Config, log: Logger, trace: string): void {
  if (!rotationOn(config)) {
    log.debug({ root, trace }, 'traces of the orchestrator\'s own writers (rotation is off: they see every entry)');
    return;
  }
  if (warned.has(root)) return;
  warned.add(root);
  log.warn(
    { root, trace },
    'the orchestrator\'s old writers still use this store: they read only metrics.json, so every sealed segment is missing from their aggregates. ' +
      'Turn rotation off (unset CODEX_METRICS_MAX_BYTES, _MAX_LINES, _ROTATE_INTERVAL, _ROTATE_AT) until the last old writer is upgraded, ' +
      'then "codex-metrics flatten" puts sealed entries back into metrics.json if they must see them (README: "Running beside old writers")',
  );
}
