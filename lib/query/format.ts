/**
 * How a query prints entries, one at a time (memory stays flat: nothing is
 * kept but the first rows a table measures its columns on).
 */
export type Format = 'jsonl' | 'csv' | 'table';

export const FORMATS: readonly Format[] = ['jsonl', 'csv', 'table'];

export interface EntryPrinter {
  /** `line` is the entry exactly as stored. */
  entry(line: string, entry: Record<string, unknown>): void;
  end(): void;
}

export interface PrinterOptions {
  /** Columns (csv, table) or the projection (jsonl); default: the first entry's keys (csv, table), the whole line (jsonl). */
  fields?: string[];
  /** Terminal width for tables. */
  width: number;
  write(text: string): void;
  /** Said once on stderr, e.g. that entries had fields no column shows. */
  note(text: string): void;
}

/** A cell's text: strings as they are, missing and null empty, anything else as JSON. */
function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** RFC 4180: a field holding a comma, quote, CR or LF is quoted, quotes doubled. */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(cells: string[]): string {
  return `${cells.map(csvField).join(',')}\r\n`;
}

/** Columns fixed by the first entry unless given: later entries' other fields are counted and named once at the end. */
class Columns {
  private names: string[] | undefined;
  private readonly given: boolean;
  private readonly unseen = new Set<string>();
  private withUnseen = 0;

  constructor(fields: string[] | undefined) {
    this.names = fields;
    this.given = fields !== undefined;
  }

  of(entry: Record<string, unknown>): string[] {
    if (!this.names) this.names = Object.keys(entry);
    else if (!this.given) this.track(entry);
    return this.names;
  }

  private track(entry: Record<string, unknown>): void {
    let extra = false;
    for (const k of Object.keys(entry)) {
      if (this.names!.includes(k)) continue;
      extra = true;
      if (this.unseen.size < 20) this.unseen.add(k);
    }
    if (extra) this.withUnseen++;
  }

  report(note: (text: string) => void): void {
    if (this.withUnseen > 0) {
      note(`${this.withUnseen} entries have fields not shown (${[...this.unseen].join(', ')}); choose columns with --fields`);
    }
  }
}

function jsonlPrinter(o: PrinterOptions): EntryPrinter {
  const fields = o.fields;
  return {
    entry(line, entry) {
      if (!fields) return o.write(`${line}\n`);
      const picked: Record<string, unknown> = {};
      for (const f of fields) if (Object.hasOwn(entry, f)) picked[f] = entry[f];
      o.write(`${JSON.stringify(picked)}\n`);
    },
    end() {},
  };
}

function csvPrinter(o: PrinterOptions): EntryPrinter {
  const columns = new Columns(o.fields);
  let header = false;
  return {
    entry(_line, entry) {
      const names = columns.of(entry);
      if (!header) {
        o.write(csvRow(names));
        header = true;
      }
      o.write(csvRow(names.map((n) => cellText(entry[n]))));
    },
    end() {
      if (!header && o.fields) o.write(csvRow(o.fields));
      columns.report(o.note);
    },
  };
}

/** Rows a table measures before it prints: enough to size columns, few enough to stay flat. */
const MEASURE_ROWS = 50;
const GAP = 2;
const MIN_COLUMN = 4;

/** One line per cell: tabs and line breaks would break the grid. */
function flat(text: string): string {
  return text.replace(/[\t\r\n]+/g, ' ');
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * Widths that fit `total`: each column gets what it needs, the narrow ones
 * first, the wide ones share what is left. Columns that cannot get even
 * MIN_COLUMN are dropped from the right.
 */
export function fitWidths(natural: number[], total: number): number[] {
  let n = natural.length;
  while (n > 1 && n * MIN_COLUMN + (n - 1) * GAP > total) n--;
  const widths = new Array<number>(n).fill(0);
  let left = total - (n - 1) * GAP;
  const order = natural.slice(0, n).map((w, i) => ({ w, i })).sort((a, b) => a.w - b.w);
  order.forEach(({ w, i }, k) => {
    const share = Math.floor(left / (n - k));
    widths[i] = Math.max(1, Math.min(w, share));
    left -= widths[i]!;
  });
  return widths;
}

function tablePrinter(o: PrinterOptions): EntryPrinter {
  const columns = new Columns(o.fields);
  let names: string[] | undefined;
  let widths: number[] | undefined;
  const held: string[][] = [];
  const print = (cells: string[]) => {
    const shown = widths!.map((w, i) => clip(cells[i] ?? '', w));
    o.write(`${shown.map((c, i) => (i === shown.length - 1 ? c : c.padEnd(widths![i]!))).join(' '.repeat(GAP)).trimEnd()}\n`);
  };
  const flush = () => {
    if (!names) return;
    const natural = names.map((n, i) => Math.max(n.length, ...held.map((r) => r[i]!.length)));
    widths = fitWidths(natural, o.width);
    if (widths.length < names.length) {
      o.note(`${names.length - widths.length} of ${names.length} columns do not fit in ${o.width} columns (${names.slice(widths.length).join(', ')}); choose columns with --fields`);
    }
    print(names.map((n) => n.toUpperCase()));
    for (const r of held) print(r);
    held.length = 0;
  };
  return {
    entry(_line, entry) {
      names = columns.of(entry);
      const cells = names.map((n) => flat(cellText(entry[n])));
      if (widths) return print(cells);
      held.push(cells);
      if (held.length >= MEASURE_ROWS) flush();
    },
    end() {
      if (!names && o.fields) names = o.fields;
      if (!widths) flush();
      columns.report(o.note);
    },
  };
}

export function entryPrinter(format: Format, o: PrinterOptions): EntryPrinter {
  return format === 'csv' ? csvPrinter(o) : format === 'table' ? tablePrinter(o) : jsonlPrinter(o);
}
