import { Store, type OpenOptions, type SegmentInfo as StoredSegment, type StoreContext } from '../store/store.js';
import { loadBase, loadCheckpoint } from './checkpoint.js';
import { orchestratorReducer } from './orchestrator.js';
import type { Reducer } from './reducer.js';

export interface SegmentInfo extends StoredSegment {
  /** Every line of the segment is in the reducer's checkpoint or its retained base. */
  folded: boolean;
}

/**
 * The segments in order (sealed, then the active file), each saying whether
 * `reducer` (the built-in one by default) has folded all of it.
 */
export async function listSegments(options: StoreContext | OpenOptions | string = {}, reducer: Reducer<any> = orchestratorReducer): Promise<SegmentInfo[]> {
  const store = typeof options === 'object' && 'paths' in options ? await Store.open({ config: options.config, log: options.log, clock: options.clock }) : await Store.open(options);
  const segments = await store.segments();
  const cp = await loadCheckpoint(store.paths, reducer);
  const cursor = cp?.ok ? cp.value.cursor : undefined;
  const baseSeq = (await loadBase(store.paths, reducer).catch(() => undefined))?.seq ?? 0;
  return segments.map((s) => ({
    ...s,
    folded: s.seq <= baseSeq || (cursor !== undefined && (cursor.seq > s.seq || (cursor.seq === s.seq && cursor.offset >= s.bytes))),
  }));
}
