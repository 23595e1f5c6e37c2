import { comparePositions } from '../store/names.js';
import { readFrom, type Cursor, type LineAt, type ReadOptions, type Snapshot, type StorePaths } from '../store/store.js';
import type { Counts } from './checkpoint.js';
import { classifyLine } from './classify.js';
import type { Reducer } from './reducer.js';
import type { RunIdIndex } from './run-ids.js';

export interface Problem {
  file: string;
  line: number;
  kind: 'malformed' | 'invalid' | 'duplicate';
  detail: string;
}

export interface FoldPass<S> {
  paths: StorePaths;
  snap: Snapshot;
  reducer: Reducer<S>;
  state: S;
  /** Added to in place. */
  counts: Counts;
  ids: RunIdIndex;
  from: Cursor;
  /** The first few skipped lines, for the warning that names them. */
  problems: Problem[];
  read?: ReadOptions;
}

const MAX_PROBLEMS = 5;

type FoldInto<S> = Pick<FoldPass<S>, 'counts' | 'ids' | 'reducer' | 'state' | 'problems'>;

/**
 * Classify one line and count it, stepping a counted run through the reducer.
 * `remember: false` leaves the run-id index alone: for a line the pass counts
 * but its checkpoint does not cover (an unterminated last entry).
 */
export function foldLine<S>(p: FoldInto<S>, text: string, at: LineAt, remember = true): void {
  const { counts, ids, reducer, state, problems } = p;
  const note = (kind: Problem['kind'], detail: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ file: at.file, line: at.line, kind, detail });
  };
  const c = classifyLine(text);
  switch (c.kind) {
    case 'blank':
      return;
    case 'malformed':
      counts.lines++;
      counts.malformed++;
      note('malformed', c.detail);
      return;
    case 'invalid':
      counts.lines++;
      counts.invalid++;
      note('invalid', c.detail);
      return;
    case 'run': {
      counts.lines++;
      const first = ids.firstSeen(c.runId, at);
      if (first && comparePositions(first, at) < 0) {
        counts.duplicates++;
        note('duplicate', `run_id ${JSON.stringify(c.runId)} first seen in segment ${first.seq} at byte ${first.offset}`);
        return;
      }
      if (remember && (!first || comparePositions(first, at) > 0)) ids.add(c.runId, at);
      counts.runs++;
      reducer.step(state, c.entry);
    }
  }
}

/**
 * One ordered pass from a cursor: every line classified once, every counted
 * run stepped through the reducer once. Used by aggregation and by
 * retention's fold, so both count exactly alike.
 */
export async function fold<S>(p: FoldPass<S>): Promise<Cursor> {
  return readFrom(p.paths, p.snap, p.from, (text, at) => foldLine(p, text, at), p.read);
}
