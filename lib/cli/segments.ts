import { listSegments } from '../aggregate/listing.js';
import { Store } from '../store/store.js';
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
    const store = await Store.open({ config: ctx.config, log: ctx.log });
    const rows = await listSegments(store.context);
    ctx.print(
      rows.length === 0
        ? 'no segments'
        : table(
            ['SEQ', 'FILE', 'LINES', 'SIZE', 'FIRST RECORDED', 'LAST RECORDED', 'FOLDED'],
            rows.map((r) => [r.seq, r.state === 'active' ? `${r.file} (active)` : r.file, r.lines, humanSize(r.bytes), shortTime(r.firstRecordedAt), shortTime(r.lastRecordedAt), r.folded ? 'yes' : 'no']),
          ),
      { storeId: (await store.storeId()) ?? null, segments: rows },
    );
  },
};
