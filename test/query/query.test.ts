import { expect } from 'chai';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32 as rng } from '../../examples/synthetic-runs.js';
import { loadConfig } from '../../lib/config.js';
import { query } from '../../lib/query/query.js';
import { storePaths } from '../../lib/store/names.js';
import { storeContext } from '../../lib/store/recorder.js';
import { runCli } from '../helpers/cli.js';
import { openRecorder, readStore } from '../helpers/store.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

/**
 * A store of `n` entries whose recorded_at jumps back and forth (so a
 * segment's first and last lines are not its earliest and latest), sealed
 * every few lines, some segments gzipped, a few lines with an offset or no
 * time at all, and a torn tail in the active file.
 */
async function buildStore(dir: string, seed: number, n: number): Promise<void> {
  const r = rng(seed);
  let written = 0;
  while (written < n) {
    const batch: string[] = [];
    const size = 1 + Math.floor(r() * 9);
    for (let i = 0; i < size && written < n; i++, written++) {
      const ms = T0 + Math.floor(r() * 20 * DAY);
      const e: Record<string, unknown> = {
        run_id: `run-${written}`,
        status: r() < 0.2 ? 'failed' : 'succeeded',
        recorded_at: r() < 0.1 ? new Date(ms).toISOString().replace('Z', '+00:00') : new Date(ms).toISOString(),
        tfgrpo_epoch: Math.floor(r() * 4),
        note: r() < 0.3 ? 'has, a comma and "quotes"\nand a newline' : 'plain',
      };
      if (r() < 0.05) delete e['recorded_at'];
      if (r() < 0.03) e['recorded_at'] = 'not a time';
      batch.push(JSON.stringify(e));
    }
    const rec = await openRecorder(dir, { maxLines: 1 + Math.floor(r() * 12), compress: r() < 0.5 ? 'gzip' : 'none' });
    await rec.appendText(`${batch.join('\n')}\n`, 'test');
    await rec.close();
  }
  await appendFile(storePaths(dir).active, '{"run_id":"torn","recorded_at":"2026-01-05T00:00:00Z"');
}

/** The independent filter: every complete stored line that is a JSON object, straight from the files. */
async function expected(dir: string, since: number | undefined, until: number | undefined, where: Record<string, string> = {}): Promise<string[]> {
  const store = await readStore(dir);
  return store.all.filter((line) => {
    if (line.trim() === '') return false;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return false;
    }
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return false;
    if (since !== undefined || until !== undefined) {
      const t = typeof e['recorded_at'] === 'string' ? Date.parse(e['recorded_at']) : NaN;
      if (Number.isNaN(t)) return false;
      if (since !== undefined && t < since) return false;
      if (until !== undefined && t >= until) return false;
    }
    return Object.entries(where).every(([k, v]) => (typeof e[k] === 'string' ? e[k] === v : JSON.stringify(e[k]) === v));
  });
}

async function libQuery(dir: string, since?: number, until?: number) {
  const lines: string[] = [];
  const config = loadConfig({ dir }, { env: {}, defaultsFile: null });
  const result = await query(
    storeContext({ config, log: quietLog }),
    { filter: { where: [], ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) }, onEntry: (l) => void lines.push(l) },
  );
  return { lines, result };
}

/** RFC 4180 read back independently: quoted fields may hold commas, quotes ("") and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), (i += 2);
      else if (c === '"') (quoted = false), i++;
      else (field += c), i++;
    } else if (c === '"') (quoted = true), i++;
    else if (c === ',') row.push(field), (field = ''), i++;
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), (i += 2);
    else (field += c), i++;
  }
  expect(field, 'every record ends with CRLF').to.equal('');
  return rows;
}

describe('query', function () {
  const tmp = useTmpDir();

  it('returns exactly what an independent filter over the raw files returns, for random windows through out-of-order segments', async function () {
    await buildStore(tmp.dir, 7, 400);
    const store = await readStore(tmp.dir);
    expect(store.segments.length).to.be.greaterThan(20);
    const r = rng(99);
    let skippedSome = false;
    for (let k = 0; k < 40; k++) {
      const a = T0 - DAY + Math.floor(r() * 22 * DAY);
      const b = a + Math.floor(r() * 3 * DAY);
      const since = r() < 0.15 ? undefined : a;
      const until = r() < 0.15 ? undefined : b;
      const { lines, result } = await libQuery(tmp.dir, since, until);
      expect(lines, `window ${since} .. ${until}`).to.deep.equal(await expected(tmp.dir, since, until));
      if (result.segmentsSkipped > 0) skippedSome = true;
    }
    expect(skippedSome, 'narrow windows let the catalogue skip segments').to.equal(true);
  });

  it('reads a segment whose earliest entry is in the window though its first and last lines are not', async function () {
    const rec = await openRecorder(tmp.dir);
    const at = (d: number) => new Date(T0 + d * DAY).toISOString();
    await rec.appendText([at(5), at(1), at(9)].map((t, i) => JSON.stringify({ run_id: `r${i}`, status: 'ok', recorded_at: t })).join('\n') + '\n', 'test');
    await rec.rotate();
    await rec.close();
    const { lines, result } = await libQuery(tmp.dir, T0 + DAY, T0 + 2 * DAY);
    expect(lines.map((l) => (JSON.parse(l) as { run_id: string }).run_id)).to.deep.equal(['r1']);
    expect(result.segmentsRead).to.equal(1);
    const outside = await libQuery(tmp.dir, T0 + 10 * DAY, undefined);
    expect(outside.lines).to.deep.equal([]);
    expect(outside.result.segmentsSkipped).to.equal(1);
  });

  it('never skips a segment whose catalogue record predates min and max recorded_at', async function () {
    await buildStore(tmp.dir, 3, 120);
    const index = JSON.parse(await readFile(storePaths(tmp.dir).index, 'utf8')) as { segments: Array<Record<string, unknown>> };
    for (const s of index.segments) {
      delete s['minRecordedAt'];
      delete s['maxRecordedAt'];
    }
    await writeFile(storePaths(tmp.dir).index, JSON.stringify(index, null, 2));
    const since = T0 + 3 * DAY;
    const until = T0 + 4 * DAY;
    const { lines, result } = await libQuery(tmp.dir, since, until);
    expect(result.segmentsSkipped).to.equal(0);
    expect(lines).to.deep.equal(await expected(tmp.dir, since, until));
  });

  it('prints the stored lines exactly, filtered by --where, and never the torn tail, from the CLI', async function () {
    await buildStore(tmp.dir, 11, 150);
    const r = await runCli(['query', '--dir', tmp.dir, '--where', 'status=failed', '--where', 'tfgrpo_epoch=2', '--since', '2026-01-03T00:00:00Z']);
    expect(r.code, r.stderr).to.equal(0);
    const want = await expected(tmp.dir, T0 + 2 * DAY, undefined, { status: 'failed', tfgrpo_epoch: '2' });
    expect(want.length).to.be.greaterThan(0);
    expect(r.stdout).to.equal(want.map((l) => `${l}\n`).join(''));
    const all = await runCli(['query', '--json', '--dir', tmp.dir]);
    expect(all.stdout).to.equal((await expected(tmp.dir, undefined, undefined)).map((l) => `${l}\n`).join(''));
    expect(all.stdout).not.to.contain('"torn"');
  });

  it('writes CSV per RFC 4180: a header, quoted commas, quotes and line breaks, CRLF records', async function () {
    await buildStore(tmp.dir, 5, 80);
    const r = await runCli(['query', '--dir', tmp.dir, '--format', 'csv', '--fields', 'run_id,note,tfgrpo_epoch,missing']);
    expect(r.code, r.stderr).to.equal(0);
    const rows = parseCsv(r.stdout);
    const want = (await expected(tmp.dir, undefined, undefined)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows[0]).to.deep.equal(['run_id', 'note', 'tfgrpo_epoch', 'missing']);
    expect(rows.slice(1)).to.deep.equal(want.map((e) => [e['run_id'], e['note'], String(e['tfgrpo_epoch']), '']));
    expect(want.some((e) => String(e['note']).includes('"'))).to.equal(true);
  });

  it('fits a table to the terminal width and stops at --limit', async function () {
    await buildStore(tmp.dir, 5, 40);
    const r = await runCli(['query', '--dir', tmp.dir, '--format', 'table', '--limit', '5'], { env: { COLUMNS: '50' } });
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).to.have.length(6);
    for (const l of lines) expect(l.length).to.be.at.most(50);
    expect(lines[0]).to.match(/^RUN_ID/);
  });

  it('refuses a time that is not ISO 8601, a --where without "=", and an unknown format, with exit 2', async function () {
    for (const args of [['--since', 'yesterday'], ['--until', '2026-13-45'], ['--where', 'status'], ['--format', 'xml'], ['--limit=-1']]) {
      const r = await runCli(['query', '--dir', tmp.dir, ...args]);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr.trimEnd().split('\n').at(-1)).to.match(/^codex-metrics: invalid/);
    }
  });

  it('stops reading when a limit is reached inside a gzip segment, and says which lines were not entries', async function () {
    const rec = await openRecorder(tmp.dir, { compress: 'gzip' });
    await rec.appendText(Array.from({ length: 5000 }, (_, i) => JSON.stringify({ run_id: `r${i}`, status: 'ok', recorded_at: new Date(T0 + i).toISOString() })).join('\n') + '\n', 'test');
    await rec.rotate();
    await rec.close();
    await appendFile(join(tmp.dir, 'metrics.json'), 'not json\n');
    const r = await runCli(['query', '--dir', tmp.dir, '--limit', '3']);
    expect(r.stdout.split('\n').filter(Boolean)).to.have.length(3);
    const all = await runCli(['query', '--dir', tmp.dir, '--since', '2026-01-01T00:00:04.998Z']);
    expect(all.stdout.split('\n').filter(Boolean)).to.have.length(2);
    expect(all.stderr).to.match(/skipped 1 line that is not a JSON object/);
  });
});
