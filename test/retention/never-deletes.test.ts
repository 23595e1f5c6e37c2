import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { tryLock } from '../../lib/store/lock.js';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { aggregateSnapshot, buildHistory, expectSameAggregates, sealedFiles } from './history.js';

async function waitFor(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('retention: never deletes what is not a sealed segment', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  it('keeps the active file, foreign files and symlinks named like segments (not followed, targets intact)', async () => {
    const root = join(tmp.dir, 'root');
    const h = await buildHistory(root, { entries: 30 });
    const before = await aggregateSnapshot(h.options);
    const sealed = await sealedFiles(h.paths);
    const active = await readFile(h.paths.active);

    const foreign = {
      'notes.txt': 'kept by a person\n',
      'metrics-1-20260101T000000000Z.jsonl': `${JSON.stringify(runEntry(7100))}\n`,
      'metrics-00000001-20261301T000000000Z.jsonl': `${JSON.stringify(runEntry(7101))}\n`,
      'metrics-00000002-20260101T000000000Z.jsonl.bak': `${JSON.stringify(runEntry(7102))}\n`,
    };
    for (const [name, text] of Object.entries(foreign)) await writeFile(join(h.paths.segments, name), text);
    // A directory named like a segment is not a segment either.
    await mkdir(join(h.paths.segments, 'metrics-00000003-20260101T000000000Z.jsonl'));
    // Symlinks named like the oldest and the newest possible segment, to real files outside the store.
    const outside = join(tmp.dir, 'outside');
    await mkdir(outside);
    const targets = { old: join(outside, 'old.jsonl'), new: join(outside, 'new.jsonl') };
    await writeFile(targets.old, jsonl([runEntry(7200), runEntry(7201)]));
    await writeFile(targets.new, jsonl([runEntry(7300)]));
    const links = { old: 'metrics-00000000-20250101T000000000Z.jsonl', new: 'metrics-99999999-20250101T000000000Z.jsonl' };
    await symlink(targets.old, join(h.paths.segments, links.old));
    await symlink(targets.new, join(h.paths.segments, links.new));

    const r = await runCli(['retention', '--dir', root, '--max-segments', '0', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: sealed, kept: 0 });

    const left = await readdir(h.paths.segments);
    expect(left).to.have.members(['index.json', 'store.json', ...Object.keys(foreign), 'metrics-00000003-20260101T000000000Z.jsonl', links.old, links.new]);
    for (const [name, text] of Object.entries(foreign)) expect(await readFile(join(h.paths.segments, name), 'utf8')).to.equal(text);
    expect(await readFile(targets.old, 'utf8')).to.equal(jsonl([runEntry(7200), runEntry(7201)]));
    expect(await readFile(targets.new, 'utf8')).to.equal(jsonl([runEntry(7300)]));
    expect(await readFile(h.paths.active)).to.deep.equal(active);

    // Nothing behind a foreign name or a symlink was ever read: aggregates are those of the real history.
    expectSameAggregates(await aggregateSnapshot(h.options, true), before);

    const v = await runCli(['verify', '--dir', root, '--json']);
    expect(v.code, v.stderr).to.equal(0);
    const report = JSON.parse(v.stdout) as { ok: boolean; problems: Array<{ file: string; kind: string }> };
    expect(report.ok).to.equal(true);
    expect(report.problems.filter((p) => p.kind === 'symlink').map((p) => p.file)).to.have.members([links.old, links.new]);
    expect(report.problems.filter((p) => p.kind === 'foreign').map((p) => p.file)).to.have.members([...Object.keys(foreign), 'metrics-00000003-20260101T000000000Z.jsonl']);
  });

  it('deletes under the writer lock: while another process holds it nothing is deleted, a writer spills, and its entry is not lost', async () => {
    const h = await buildHistory(tmp.dir, { entries: 40 });
    const before = await aggregateSnapshot(h.options);
    const sealed = await sealedFiles(h.paths);
    const held = await tryLock(h.paths.lock, { staleMs: 300_000, log: quietLog });
    expect(held).to.not.equal(undefined);
    let retentionDone = false;
    const running = runCli(['retention', '--dir', tmp.dir, '--max-segments', '2', '--json']).finally(() => (retentionDone = true));
    try {
      // The fold needs no writer lock; the deletion does.
      await waitFor('the fold', () => existsSync(join(h.paths.metrics, 'retained-base.json')));
      const record = await runCli(['record', '--dir', tmp.dir, '--json'], { input: jsonl([runEntry(8000), runEntry(8001)]) });
      expect(record.code, record.stderr).to.equal(0);
      expect(JSON.parse(record.stdout)).to.deep.equal({ recorded: 2 });
      expect(await readdir(h.paths.pending)).to.have.length(2);
      expect(retentionDone).to.equal(false);
      expect(await sealedFiles(h.paths)).to.deep.equal(sealed);
    } finally {
      await held!.release();
    }
    const r = await running;
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: sealed.slice(0, -2), kept: 2 });
    // Retention took the lock, so it merged what the writer spilled.
    expect(await readdir(h.paths.pending)).to.deep.equal([]);
    const after = await aggregateSnapshot(h.options, true);
    expect(after.totals.runs).to.equal(before.totals.runs + 2);
    const all = (await Promise.all([h.paths.active, ...(await sealedFiles(h.paths)).map((f) => join(h.paths.segments, f))].map((p) => readFile(p, 'utf8').catch(() => '')))).join('');
    expect(all.split('\n').filter((l) => l.includes('"run-8000"') || l.includes('"run-8001"'))).to.have.length(2);
  });

  it('with nothing to delete, still merges what writers spilled (a dry run does not)', async () => {
    const h = await buildHistory(tmp.dir, { entries: 20 });
    const held = await tryLock(h.paths.lock, { staleMs: 300_000, log: quietLog });
    try {
      const record = await runCli(['record', '--dir', tmp.dir], { input: jsonl([runEntry(8100)]) });
      expect(record.code, record.stderr).to.equal(0);
    } finally {
      await held!.release();
    }
    expect(await readdir(h.paths.pending)).to.have.length(1);
    const dry = await runCli(['retention', '--dir', tmp.dir, '--max-segments', '100', '--dry-run', '--json']);
    expect(JSON.parse(dry.stdout)).to.deep.include({ deleted: [] });
    expect(await readdir(h.paths.pending)).to.have.length(1);
    const r = await runCli(['retention', '--dir', tmp.dir, '--max-segments', '100', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: [], kept: (await sealedFiles(h.paths)).length });
    expect(await readdir(h.paths.pending)).to.deep.equal([]);
    expect(await readFile(h.paths.active, 'utf8')).to.contain('"run-8100"');
  });
});
