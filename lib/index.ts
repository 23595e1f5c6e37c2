/**
 * codex-metrics: a rotating, segmented JSON Lines store for run metrics, with
 * exact incremental aggregation, retention that never changes an aggregate,
 * and verification. What users need; internals stay behind their modules.
 */
export { loadConfig, parseDuration, parseSize, type Config, type ConfigOptions, type RetentionPolicy, type TimeOfDay } from './config.js';
export { InputError, StoreError, UsageError } from './errors.js';
export { createLogger, type Logger } from './log.js';
export {
  Recorder,
  Store,
  storeContext,
  type AfterSeal,
  type AppendResult,
  type Catalogue,
  type Clock,
  type OpenOptions,
  type RecorderOptions,
  type RotateResult,
  type StoreContext,
  type StoreOptions,
  type SegmentRecord,
  type SegmentIndex,
} from './store/store.js';
export { segmentFileName, parseSegmentName } from './store/names.js';
export { listSegments, type SegmentInfo } from './aggregate/listing.js';
export { verify, type VerifyProblem, type VerifyResult } from './verify/verify.js';
export { aggregate, type AggregateOptions, type AggregateResult } from './aggregate/aggregator.js';
export { appendMetricsEntry, ensureMetricsTrailingNewline, mergePendingMetricsEntries, updateMetricsAggregates, withMetricsLock, type EnvironmentPaths } from './compat.js';
export { orchestratorReducer, type OrchestratorState } from './aggregate/orchestrator.js';
export type { Reducer, OutputFile, OutputContext, OutputPlace } from './aggregate/reducer.js';
export { retention, type RetentionOptions, type RetentionResult } from './retention/retention.js';
export { archive, archiveAfterSeal, type ArchiveOptions, type ArchiveResult } from './archive/archiver.js';
export { flatten, type FlattenResult } from './flatten/flatten.js';
