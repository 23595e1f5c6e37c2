import { lstat } from 'node:fs/promises';
import { ifExists } from '../errors.js';
import { lastNewlineEnd } from './files.js';
import { summarizeFile } from './lines.js';
import { ACTIVE_FILE } from './names.js';
import type { StoreContext } from './context.js';
import { loadIndex } from './segment-index.js';

export interface SegmentInfo {
  seq: number;
  file: string;
  state: 'sealed' | 'active';
  lines: number;
  bytes: number;
  firstRecordedAt: string | null;
  lastRecordedAt: string | null;
  sealedAt: string | null;
}

/**
 * Sealed segments from the catalogue (in step with the directory), then the
 * active file if there is one, described up to its last complete line. What
 * the store knows; lib/aggregate/listing.ts adds whether each is folded.
 */
export async function describeSegments(ctx: StoreContext): Promise<SegmentInfo[]> {
  const { paths, log } = ctx;
  const { index } = await loadIndex(paths, { log, persist: false, fsync: false });
  const out: SegmentInfo[] = index.segments.map((r) => ({
    seq: r.seq,
    file: r.file,
    state: 'sealed',
    lines: r.lines,
    bytes: r.bytes,
    firstRecordedAt: r.firstRecordedAt,
    lastRecordedAt: r.lastRecordedAt,
    sealedAt: r.sealedAt,
  }));
  const st = await ifExists(() => lstat(paths.active));
  if (st?.isFile()) {
    const end = lastNewlineEnd(paths.active, st.size);
    const s = await summarizeFile(paths.active, false, { end });
    out.push({
      seq: index.lastSeq + 1,
      file: ACTIVE_FILE,
      state: 'active',
      lines: s.lines,
      bytes: s.end,
      firstRecordedAt: s.firstRecordedAt,
      lastRecordedAt: s.lastRecordedAt,
      sealedAt: null,
    });
  }
  return out;
}
