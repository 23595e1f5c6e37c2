import { loadBase, loadCheckpoint } from '../aggregate/checkpoint.js';
import { orchestratorReducer } from '../aggregate/orchestrator.js';
import { checkRoot } from '../store/recorder.js';
import { listSegments } from '../store/segments.js';
import { knownStoreId } from '../store/segment-index.js';
import { table, type Command } from './command.js';

export const segmentsCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {},
  details: 'folded: every line of the segment is in the aggregate checkpoint (or the retained base).',
  async run(ctx) {
    await checkRoot(ctx.paths, true);
    const segments = await listSegments(ctx);
    const cp = await loadCheckpoint(ctx.paths, orchestratorReducer);
    const cursor = cp?.ok ? cp.value.cursor : undefined;
    const baseSeq = (await loadBase(ctx.paths, orchestratorReducer).catch(() => undefined))?.seq ?? 0;
    const rows = segments.map((s) => ({
      ...s,
      folded: s.seq <= baseSeq || (cursor !== undefined && (cursor.seq > s.seq || (cursor.seq === s.seq && cursor.offset >= s.bytes))),
    }));
    ctx.print(
      rows.length === 0
        ? 'no segments'
        : table(
            ['SEQ', 'FILE', 'STATE', 'LINES', 'BYTES', 'FIRST RECORDED_AT', 'LAST RECORDED_AT', 'SEALED AT', 'FOLDED'],
            rows.map((r) => [r.seq, r.file, r.state, r.lines, r.bytes, r.firstRecordedAt, r.lastRecordedAt, r.sealedAt, r.folded ? 'yes' : 'no']),
          ),
      { storeId: (await knownStoreId(ctx.paths)) ?? null, segments: rows },
    );
  },
};
