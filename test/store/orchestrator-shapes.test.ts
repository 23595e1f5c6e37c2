import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { storePaths } from '../../lib/store/names.js';
import { verify } from '../../lib/verify/verify.js';
import { readOutputs, rebuildInCopy } from '../aggregate/helpers.js';
import { runEntry } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { openRecorder, readStore } from '../helpers/store.js';

/** The orchestrator's spill name: "<run_id>-<ms>-<uuid>.jsonl". */
const spillName = (runId: string, ms: number) => `${runId.replace(/[^a-zA-Z0-9._-]+/g, '_')}-${ms}-${randomUUID()}.jsonl`;
const line = (i: number) => JSON.stringify(runEntry(i));
const runIds = (lines: readonly string[]) => lines.map((l) => (JSON.parse(l) as { run_id: string }).run_id);

describe('the orchestrator\'s file shapes (issue 10)', () => {
  const tmp = useTmpDir();
  const paths = () => storePaths(tmp.dir);
  const spill = async (name: string, text: string, ageMs = 0) => {
    await mkdir(paths().pending, { recursive: true });
    await writeFile(join(paths().pending, name), text);
    if (ageMs) {
      const then = new Date(Date.now() - ageMs);
      await utimes(join(paths().pending, name), then, then);
    }
  };

  it('merges its multi-line spills in name order, and neither copies nor counts blank or whitespace lines', async () => {
    await spill(spillName('run-2', 1_700_000_000_002), `  \n${line(2)}\n\t\n${line(3)}\n\n`);
    await spill(spillName('run-1', 1_700_000_000_001), `${line(1)}\n \r\n`);
    // A spill without its final newline still holds a whole entry.
    await spill(spillName('run-4', 1_700_000_000_004), line(4));
    const res = await (await openRecorder(tmp.dir)).appendText('');
    expect(res.merged).to.equal(4);
    const text = await readFile(paths().active, 'utf8');
    expect(text).to.equal(`${[1, 2, 3, 4].map(line).join('\n')}\n`);
    expect((await readStore(tmp.dir)).pending).to.deep.equal([]);
  });

  describe('stale temp spills (<run_id>-<ms>-<uuid>.jsonl.tmp)', () => {
    const staleMs = 60_000;

    it('merges one older than the stale age whose every line is a complete JSON object', async () => {
      await spill(`${spillName('run-1', 1_700_000_000_001)}.tmp`, `${line(1)}\n\n${line(2)}`, staleMs + 5000);
      const res = await (await openRecorder(tmp.dir, { lockStaleMs: staleMs })).append(runEntry(3));
      expect(res.merged).to.equal(2);
      expect(runIds((await readStore(tmp.dir)).active)).to.deep.equal(['run-1', 'run-2', 'run-3']);
      expect((await readStore(tmp.dir)).pending).to.deep.equal([]);
    });

    it('leaves one under the stale age to its writer', async () => {
      const name = `${spillName('run-1', Date.now())}.tmp`;
      await spill(name, `${line(1)}\n`, staleMs - 5000);
      const res = await (await openRecorder(tmp.dir, { lockStaleMs: staleMs })).append(runEntry(3));
      expect(res.merged).to.equal(0);
      const s = await readStore(tmp.dir);
      expect(runIds(s.active)).to.deep.equal(['run-3']);
      expect(s.pending).to.deep.equal([name]);
      expect(s.corrupt.size).to.equal(0);
    });

    it('moves an older incomplete one to metrics.corrupt/, bytes intact', async () => {
      const torn = `${line(1)}\n{"run_id":"run-2","sta`;
      await spill(`${spillName('run-1', 1_700_000_000_001)}.tmp`, torn, staleMs + 5000);
      const res = await (await openRecorder(tmp.dir, { lockStaleMs: staleMs })).append(runEntry(3));
      expect(res.merged).to.equal(0);
      const s = await readStore(tmp.dir);
      expect(runIds(s.active)).to.deep.equal(['run-3']);
      expect(s.pending).to.deep.equal([]);
      expect([...s.corrupt.values()]).to.deep.equal([torn]);
      expect([...s.corrupt.keys()][0]).to.match(/^metrics\.pending\.unfinished\.run-1-1700000000001-.*\.jsonl$/);
    });

    it('is reported by verify until the next lock holder settles it, and verify --repair does', async () => {
      await spill(`${spillName('run-1', 1_700_000_000_001)}.tmp`, `${line(1)}\n`, staleMs + 5000);
      const before = await verify({ dir: tmp.dir, log: quietLog, lockStaleMs: staleMs });
      expect(before.problems.map((p) => [p.kind, p.severity])).to.deep.equal([['stale-spill', 'warning']]);
      const repaired = await verify({ dir: tmp.dir, log: quietLog, lockStaleMs: staleMs, repair: true });
      expect(repaired.problems).to.deep.equal([]);
      expect(runIds((await readStore(tmp.dir)).active)).to.deep.equal(['run-1']);
    });
  });

  it('never merges, reads or removes a symlink in metrics.pending/, and verify reports it', async () => {
    const secret = join(tmp.dir, '..', `secret-${randomUUID()}.txt`);
    await writeFile(secret, `${JSON.stringify({ run_id: 'stolen', status: 'succeeded', recorded_at: 'x' })}\n`);
    await mkdir(paths().pending, { recursive: true });
    await symlink(secret, join(paths().pending, spillName('run-9', 1_700_000_000_009)));
    await symlink(secret, join(paths().pending, `${spillName('run-8', 1_700_000_000_008)}.tmp`));
    await spill(spillName('run-1', 1_700_000_000_001), `${line(1)}\n`);
    const res = await (await openRecorder(tmp.dir, { lockStaleMs: 1000 })).append(runEntry(2));
    expect(res.merged).to.equal(1);
    expect(runIds((await readStore(tmp.dir)).active)).to.deep.equal(['run-1', 'run-2']);
    expect(await readdir(paths().pending)).to.have.length(2);
    expect(await readFile(secret, 'utf8')).to.include('stolen');
    const v = await verify({ dir: tmp.dir, log: quietLog });
    expect(v.problems.filter((p) => p.kind === 'symlink')).to.have.length(2);
  });

  describe('a complete last entry without its newline (torn tail rule)', () => {
    it('is counted by the aggregator, which reads without the lock, and kept and ended with "\\n" by the next writer', async () => {
      await mkdir(tmp.dir, { recursive: true });
      // As the orchestrator's writers of old left it: an object, no newline.
      await writeFile(paths().active, `${line(1)}\n${line(2)}`);
      const r1 = await aggregate({ dir: tmp.dir, log: quietLog });
      expect(r1).to.include({ totalRuns: 2, malformed: 0 });
      expect(await readFile(paths().active, 'utf8'), 'the aggregator changes nothing').to.equal(`${line(1)}\n${line(2)}`);
      const v = await verify({ dir: tmp.dir, log: quietLog });
      expect(v.ok).to.equal(true);
      expect(v.problems.map((p) => [p.kind, p.severity])).to.deep.equal([['unterminated', 'warning']]);
      await (await openRecorder(tmp.dir)).append(runEntry(3));
      const s = await readStore(tmp.dir);
      expect(runIds(s.active)).to.deep.equal(['run-1', 'run-2', 'run-3']);
      expect(s.corrupt.size).to.equal(0);
      const r2 = await aggregate({ dir: tmp.dir, log: quietLog });
      expect(r2).to.include({ mode: 'incremental', totalRuns: 3, duplicates: 0, malformed: 0 });
      expect(await readOutputs(tmp.dir)).to.deep.equal((await rebuildInCopy(tmp.dir, join(tmp.dir, '..'))).outputs);
    });

    it('anything else after the last newline is still crash residue: quarantined, never counted', async () => {
      await mkdir(tmp.dir, { recursive: true });
      for (const residue of ['{"run_id":"run-2"', '[1,2]', '"text"', '{"a":1} {"b":2}']) {
        await writeFile(paths().active, `${line(1)}\n${residue}`);
        expect((await aggregate({ dir: tmp.dir, log: quietLog, rebuild: true })).totalRuns, residue).to.equal(1);
        await (await openRecorder(tmp.dir)).appendText('');
        expect(await readFile(paths().active, 'utf8')).to.equal(`${line(1)}\n`);
      }
      expect((await readStore(tmp.dir)).corrupt.size).to.equal(4);
    });
  });

  it('takes its old lock formats ("locked", a bare UUID) only by age: a fresh one makes record spill, as the orchestrator queues', async () => {
    await mkdir(tmp.dir, { recursive: true });
    for (const format of ['locked', randomUUID()]) {
      await writeFile(paths().lock, format);
      const res = await (await openRecorder(tmp.dir, { lockWaitMs: 30, lockStaleMs: 60_000 })).append(runEntry(1));
      expect(res.spilled, format).to.equal(true);
      const then = new Date(Date.now() - 120_000);
      await utimes(paths().lock, then, then);
      const next = await (await openRecorder(tmp.dir, { lockWaitMs: 30, lockStaleMs: 60_000 })).append(runEntry(2));
      expect(next.spilled, format).to.equal(false);
    }
  });
});
