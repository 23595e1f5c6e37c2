/**
 * codex-metrics: a rotating, segmented JSON Lines store for run metrics, with
 * exact incremental aggregation, retention that never changes an aggregate,
 * and verification.
 */
export { loadConfig, parseDuration, parseSize, type Config, type ConfigOptions, type RetentionPolicy } from './config.js';
export { InputError, StoreError, UsageError } from './errors.js';
export { createLogger, type Logger } from './log.js';
export { Recorder, storeContext, type StoreContext, type AppendResult, type RecorderOptions, type RotateResult, type StoreOptions } from './store/recorder.js';
export { listSegments, type SegmentInfo } from './store/segments.js';
export { segmentFileName, parseSegmentName, storePaths, type StorePaths } from './store/names.js';
export type { SegmentRecord, SegmentIndex } from './store/segment-index.js';
export { verify, type VerifyProblem, type VerifyResult } from './verify/verify.js';
export { aggregate, updateMetricsAggregates, type AggregateOptions, type AggregateResult } from './aggregate/aggregator.js';
export { orchestratorReducer, type OrchestratorState } from './aggregate/orchestrator.js';
export type { Reducer, OutputFile, OutputContext, OutputPlace } from './aggregate/reducer.js';
export { classifyLine, type Classified } from './aggregate/classify.js';
export { retention, type RetentionOptions, type RetentionResult } from './retention/retention.js';
export { expiredCount } from './retention/policy.js';
