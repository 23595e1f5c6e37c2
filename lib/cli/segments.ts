import { loadBase, loadCheckpoint } from '../aggregate/checkpoint.js';
import { orchestratorReducer } from '../aggregate/orchestrator.js';
import { checkRoot } from '../store/recorder.js';
import { listSegments } from '../store/segments.js';
import { knownStoreId } from '../store/segment-index.js';
import { humanSize, shortTime, table, type Command } from './command.js';

export const segmentsCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {},
  details: [
    'The table fits 120 columns: sizes are uncompressed content, recorded_at is UTC to the minute,',
    'and the sealing time is in the file name. --json has every field, exact.',
    'folded: every line of the segment is in the aggregate checkpoint (or the retained base).',
  ].join('\n'),
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
            ['SEQ', 'FILE', 'LINES', 'SIZE', 'FIRST RECORDED', 'LAST RECORDED', 'FOLDED'],
            rows.map((r) => [r.seq, r.state === 'active' ? `${r.file} (active)` : r.file, r.lines, humanSize(r.bytes), shortTime(r.firstRecordedAt), shortTime(r.lastRecordedAt), r.folded ? 'yes' : 'no']),
          ),
      { storeId: (await knownStoreId(ctx.paths)) ?? null, segments: rows },
    );
  },
};
