import { UsageError } from '../errors.js';
import { parseCount } from '../config.js';
import { parseTime, parseWhere, type EntryFilter } from '../query/filter.js';
import { entryPrinter, FORMATS, type Format } from '../query/format.js';
import { query } from '../query/query.js';
import { checkRoot } from '../store/store.js';
import { plural, type Command } from './command.js';
import { dataOut, terminalWidth } from './output.js';

function stringList(v: string | boolean | string[] | undefined): string[] {
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export const queryCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {
    since: { type: 'string', arg: 'T', help: 'entries recorded at or after T (ISO 8601: 2026-01-06, 2026-01-06T07:00:00Z)' },
    until: { type: 'string', arg: 'T', help: 'entries recorded before T' },
    where: { type: 'string', arg: 'FIELD=VALUE', multiple: true, help: 'top-level field equals VALUE (repeat: all must hold)' },
    fields: { type: 'string', arg: 'a,b', help: 'columns (csv, table) or the fields kept (jsonl)' },
    format: { type: 'string', arg: 'F', help: 'jsonl (default: lines exactly as stored), csv (RFC 4180) or table' },
    limit: { type: 'string', arg: 'N', help: 'stop after N entries' },
  },
  details: [
    'Entries come in store order: sealed segments (gzip too) by seq, then the active file up to its',
    'last complete line. Times compare as instants (a time without an offset is local time); an entry',
    'without a recorded_at that parses is outside every window. VALUE matches a string field equal to',
    'it, or a number, true, false or null written that way. Segments whose recorded_at range (kept in',
    'the catalogue) misses the window are not read. --json prints JSON Lines, as --format jsonl.',
    '',
    'Examples:',
    '  codex-metrics query --since 2026-01-06 --until 2026-01-07 --where status=failed',
    '  codex-metrics query --where tfgrpo_epoch=3 --fields run_id,status,cost_usd --format csv > epoch3.csv',
  ].join('\n'),
  async run(ctx) {
    const v = ctx.values;
    const filter: EntryFilter = { where: stringList(v['where']).map(parseWhere) };
    if (typeof v['since'] === 'string') filter.since = parseTime(v['since'], '--since');
    if (typeof v['until'] === 'string') filter.until = parseTime(v['until'], '--until');
    const format = (typeof v['format'] === 'string' ? v['format'] : 'jsonl') as Format;
    if (!FORMATS.includes(format)) throw new UsageError(`invalid --format "${format}": expected ${FORMATS.join(', ')}`);
    if (ctx.json && format !== 'jsonl') throw new UsageError(`--json prints JSON Lines: drop --format ${format}`);
    const fields = typeof v['fields'] === 'string' ? v['fields'].split(',').map((f) => f.trim()) : undefined;
    if (fields && fields.some((f) => f === '')) throw new UsageError(`invalid --fields "${String(v['fields'])}": expected names separated by commas`);
    if (v['limit'] === '') throw new UsageError('invalid --limit="": expected a whole number >= 0');
    const limit = parseCount(v['limit'], '--limit');
    await checkRoot(ctx.paths, true);
    const out = dataOut(ctx.io);
    const printer = entryPrinter(format, {
      ...(fields ? { fields } : {}),
      width: terminalWidth(ctx.io),
      write: out.write,
      note: (text) => ctx.log.warn(`query: ${text}`),
    });
    const result = await query(ctx, {
      filter,
      ...(limit !== undefined ? { limit } : {}),
      onEntry(line, entry) {
        printer.entry(line, entry);
        return !out.closed;
      },
    });
    printer.end();
    out.flush();
    if (result.notEntries > 0) ctx.log.warn(`query: skipped ${plural(result.notEntries, 'line')} that ${result.notEntries === 1 ? 'is' : 'are'} not a JSON object (codex-metrics verify names them)`);
    ctx.log.debug({ ...result }, 'query: done');
  },
};
