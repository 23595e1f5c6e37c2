import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tryLock } from '../../lib/store/lock.js';
import { storePaths } from '../../lib/store/names.js';
import { rebuildInCopy, readOutputs } from '../aggregate/helpers.js';
import { writerEnv } from '../helpers/appender.js';
import { jsonl, runCli, runEntry, type CliResult } from '../helpers/cli.js';
import { FAULT_FIRED, type Fault } from '../helpers/faulty-fs.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

/** Every *.json file under `dir` (recursively), and every temp file of an atomic write. */
async function walk(dir: string): Promise<{ json: string[]; temps: string[] }> {
  const out = { json: [] as string[], temps: [] as string[] };
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await walk(p);
      out.json.push(...sub.json);
      out.temps.push(...sub.temps);
    } else if (e.name.endsWith('.tmp')) out.temps.push(p);
    else if (e.name.endsWith('.json') && e.name !== 'metrics.json') out.json.push(p);
  }
  return out;
}

/** run_ids stored in segments and the active file, read with the CLI itself. */
async function storedRunIds(dir: string): Promise<string[]> {
  const paths = storePaths(dir);
  const ids: string[] = [];
  for (const f of (await readdir(paths.segments)).sort()) {
    if (!/^metrics-\d+-.*\.jsonl(\.gz)?$/.test(f)) continue;
    const raw = await readFile(join(paths.segments, f));
    const text = (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    for (const l of text.split('\n')) if (l) ids.push((JSON.parse(l) as { run_id: string }).run_id);
  }
  const active = await readFile(paths.active, 'utf8').catch(() => '');
  for (const l of active.split('\n')) if (l) ids.push((JSON.parse(l) as { run_id: string }).run_id);
  return ids;
}

interface Case {
  name: string;
  /** What is set up before the faulty command runs. */
  setup?: (dir: string) => Promise<void>;
  args: string[];
  env?: Record<string, string>;
  /** Ids the faulty command tries to record. */
  input?: number[];
  fault: Fault;
  code: 0 | 1;
  message?: RegExp;
  /** The lock is held by another process meanwhile (record spills). */
  lockHeld?: boolean;
  /** Aggregated before the fault (default true); not, so retention folds ids the run-id index lacks. */
  aggregated?: false;
}

const DISK_FULL = /^codex-metrics: the disk is full \(ENOSPC writing .+\): free some space, then run the command again; nothing was lost/m;

async function damageASegment(dir: string): Promise<void> {
  const { segments } = storePaths(dir);
  const f = (await readdir(segments)).filter((n) => /^metrics-\d+-.*\.jsonl$/.test(n)).sort()[0]!;
  const text = await readFile(join(segments, f), 'utf8');
  // Inside a string value: every line still parses, only the checksum tells.
  await writeFile(join(segments, f), text.replace('succeeded', 'succeedee'));
}

const CASES: Case[] = [
  { name: 'record: append to metrics.json on a full disk', args: ['record'], input: [100, 101], fault: { site: 'active', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'record: append, quota exceeded', args: ['record'], input: [100], fault: { site: 'active', op: 'write', action: 'EDQUOT' }, code: 1, message: /the disk is full \(EDQUOT/ },
  { name: 'record: append, every write short', args: ['record'], input: [100, 101, 102], fault: { site: 'active', op: 'write', action: 'short' }, code: 0 },
  { name: 'record: append, a write that writes nothing', args: ['record'], input: [100], fault: { site: 'active', op: 'write', action: 'zero' }, code: 1, message: /wrote nothing/ },
  { name: 'record: append, fsync fails (fsync always)', args: ['record'], env: { CODEX_METRICS_FSYNC: 'always' }, input: [100], fault: { site: 'active', op: 'fsync', action: 'EIO' }, code: 1, message: /EIO/ },
  { name: 'record: the sealing rename fails', args: ['record'], input: [100, 101, 102], fault: { site: 'seal', op: 'rename', action: 'EIO' }, code: 1, message: /EIO/ },
  { name: 'record: index.json after a seal on a full disk (the seal is undone)', args: ['record'], input: [100, 101, 102], fault: { site: 'json', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'record: gzip seal on a full disk (kept uncompressed)', args: ['record'], env: { CODEX_METRICS_COMPRESS: 'gzip' }, input: [100, 101, 102], fault: { site: 'gzip', op: 'write', action: 'ENOSPC' }, code: 0 },
  { name: 'record: gzip seal, fsync of the .gz fails', args: ['record'], env: { CODEX_METRICS_COMPRESS: 'gzip' }, input: [100, 101, 102], fault: { site: 'gzip', op: 'fsync', action: 'EIO' }, code: 0 },
  { name: 'record: gzip seal, short writes', args: ['record'], env: { CODEX_METRICS_COMPRESS: 'gzip' }, input: [100, 101, 102], fault: { site: 'gzip', op: 'write', action: 'short' }, code: 0 },
  { name: 'record: spill on a full disk while the lock is busy', args: ['record'], input: [100, 101], lockHeld: true, fault: { site: 'spill', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  {
    name: 'record: quarantining a torn tail on a full disk',
    setup: (dir) => appendFile(storePaths(dir).active, '{"run_id": "torn'),
    args: ['record'],
    input: [100],
    fault: { site: 'quarantine', op: 'write', action: 'ENOSPC' },
    code: 1,
    message: DISK_FULL,
  },
  { name: 'aggregate: the first output on a full disk', args: ['aggregate'], fault: { site: 'json', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'aggregate: the fourth JSON write on a full disk', args: ['aggregate'], fault: { site: 'json', op: 'write', nth: 4, action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'aggregate: a rename fails', args: ['aggregate'], fault: { site: 'json', op: 'rename', nth: 2, action: 'EIO' }, code: 1, message: /EIO/ },
  { name: 'aggregate: the checkpoint fsync fails', args: ['aggregate'], fault: { site: 'json', op: 'fsync', action: 'EIO' }, code: 1, message: /EIO/ },
  { name: 'aggregate: every JSON write short', args: ['aggregate'], fault: { site: 'json', op: 'write', action: 'short' }, code: 0 },
  { name: 'aggregate: the run-id index on a full disk', args: ['aggregate'], fault: { site: 'run-ids', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'aggregate --rebuild: the run-id index on a full disk', args: ['aggregate', '--rebuild'], fault: { site: 'run-ids', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'retention: the run-id index on a full disk', aggregated: false, args: ['retention', '--max-segments', '1'], fault: { site: 'run-ids', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'retention: the retained base on a full disk', args: ['retention', '--max-segments', '1'], fault: { site: 'json', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'retention: the retained base fsync fails', args: ['retention', '--max-segments', '1'], fault: { site: 'json', op: 'fsync', action: 'EIO' }, code: 1, message: /EIO/ },
  { name: 'retention: deleting a segment fails', args: ['retention', '--max-segments', '1'], fault: { site: 'retention', op: 'unlink', action: 'EIO' }, code: 1, message: /EIO/ },
  { name: 'retention: index.json after deleting, on a full disk', args: ['retention', '--max-segments', '1'], fault: { site: 'json', op: 'write', nth: 2, action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'verify --repair: the rewritten segment on a full disk', setup: damageASegment, args: ['verify', '--repair'], fault: { site: 'repair', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
  { name: 'verify --repair: the quarantined copy on a full disk', setup: damageASegment, args: ['verify', '--repair'], fault: { site: 'quarantine', op: 'write', action: 'ENOSPC' }, code: 1, message: DISK_FULL },
];

describe('store: a failing file system at each write site (table-driven, the real CLI in a child process)', function () {
  this.timeout(120_000);
  const tmp = useTmpDir();

  for (const c of CASES) {
    it(`${c.name}: exit ${c.code}, every JSON file valid, nothing acknowledged lost, outputs equal a rebuild afterwards`, async () => {
      const dir = join(tmp.dir, 'root');
      const env = writerEnv({ CODEX_METRICS_MAX_LINES: '3', ...c.env });
      const cli = (args: string[], opts: { input?: string; fault?: Fault } = {}): Promise<CliResult> => runCli([...args, '--dir', dir], { env, ...opts });
      const acked: number[] = [];
      const record = async (ids: number[]) => {
        const r = await cli(['record'], { input: jsonl(ids.map((i) => runEntry(i))) });
        expect(r.code, r.stderr).to.equal(0);
        acked.push(...ids);
      };
      await record(Array.from({ length: 10 }, (_, i) => i));
      if (c.aggregated !== false) expect((await cli(['aggregate'])).code).to.equal(0);
      await record([10, 11]);
      await c.setup?.(dir);

      const held = c.lockHeld ? await tryLock(storePaths(dir).lock, { staleMs: 300_000, log: quietLog }) : undefined;
      let r: CliResult;
      try {
        r = await cli(c.args, { fault: c.fault, ...(c.input ? { input: jsonl(c.input.map((i) => runEntry(i))) } : {}) });
      } finally {
        await held?.release();
      }
      expect(r.signal, r.stderr).to.equal(null);
      expect(r.stderr, 'the fault never fired').to.contain(FAULT_FIRED);
      expect(r.code, r.stderr).to.equal(c.code);
      if (c.code === 0 && c.input) acked.push(...c.input);
      if (c.message) {
        const last = r.stderr.trimEnd().split('\n').filter((l) => l !== FAULT_FIRED).at(-1)!;
        expect(last).to.match(/^codex-metrics: /);
        expect(last).to.match(c.message);
      }

      // Right after the failure: every JSON file of the store is whole, and no temp was left behind.
      const after = await walk(dir);
      for (const f of after.json) expect(() => JSON.parse(readFileSync(f, 'utf8')), f).to.not.throw();
      expect(after.temps, 'temp files left').to.deep.equal([]);

      // With a working disk again: the next commands heal what is left, and nothing acknowledged is lost.
      if (c.args[0] === 'verify') expect((await cli(['verify', '--repair'])).code).to.equal(0);
      await record([200]);
      const agg = await cli(['aggregate']);
      expect(agg.code, agg.stderr).to.equal(0);
      const verify = await cli(['verify', '--json']);
      expect(verify.code, verify.stdout + verify.stderr).to.equal(0);
      const stored = await storedRunIds(dir);
      expect(stored.filter((id, i) => stored.indexOf(id) !== i), 'stored twice').to.deep.equal([]);
      const fresh = await rebuildInCopy(dir, tmp.dir);
      expect(await readOutputs(dir)).to.deep.equal(fresh.outputs);
      // Deleted segments live on in the retained base: count runs, not lines.
      const unacknowledged = c.code === 0 ? 0 : (c.input?.length ?? 0);
      expect(fresh.result.totals.duplicates).to.equal(0);
      expect(fresh.result.totals.runs).to.be.within(acked.length, acked.length + unacknowledged);
    });
  }
});
