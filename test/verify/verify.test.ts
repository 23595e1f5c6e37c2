import { createReadStream, readFileSync } from 'node:fs';
import { appendFile, readdir, readFile, rename as fsRename, rm, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import { aggregate } from '../../lib/aggregate/aggregator.js';
import { classifyLine } from '../../lib/aggregate/classify.js';
import { storePaths, type StorePaths } from '../../lib/store/names.js';
import { Recorder } from '../../lib/store/recorder.js';
import { verify } from '../../lib/verify/verify.js';
import { startAppender, writerEnv } from '../helpers/appender.js';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { sealedFiles } from '../retention/history.js';

interface Problem {
  file: string;
  kind: string;
  detail: string;
}

interface Report {
  code: number | null;
  ok: boolean;
  problems: Problem[];
}

async function verifyCli(dir: string, repair = false): Promise<Report> {
  const r = await runCli(['verify', '--dir', dir, '--json', ...(repair ? ['--repair'] : [])]);
  expect(r.stdout, r.stderr).to.not.equal('');
  const json = JSON.parse(r.stdout) as { ok: boolean; problems: Problem[] };
  expect(Object.keys(json).sort()).to.deep.equal(['ok', 'problems']);
  for (const p of json.problems) {
    expect(p.file).to.be.a('string');
    expect(p.kind).to.be.a('string');
    expect(p.detail).to.be.a('string').and.not.equal('');
  }
  expect(r.code, r.stderr).to.equal(json.ok ? 0 : 1);
  if (!json.ok) expect(r.stderr.trim().split('\n').at(-1)).to.match(/^codex-metrics: verify found \d+ errors?/);
  return { code: r.code, ...json };
}

function kinds(r: Report): Array<[string, string]> {
  return r.problems.map((p) => [p.file, p.kind]);
}

/** Every line of the store that parses as a JSON object, whatever else it is: what repair must not lose. */
async function goodLines(paths: StorePaths): Promise<string[]> {
  const texts: string[] = [];
  for (const f of await sealedFiles(paths)) {
    const path = join(paths.segments, f);
    if (!f.endsWith('.gz')) {
      texts.push(await readFile(path, 'utf8'));
      continue;
    }
    // Whatever inflates before a break counts: a damaged .gz is read as far as it goes.
    const parts: Buffer[] = [];
    await new Promise<void>((resolve) => {
      const gunzip = createGunzip();
      gunzip.on('data', (c: Buffer) => parts.push(c)).on('error', () => resolve()).on('end', () => resolve());
      createReadStream(path).pipe(gunzip);
    });
    texts.push(Buffer.concat(parts).toString('utf8'));
  }
  texts.push(await readFile(paths.active, 'utf8').catch(() => ''));
  return texts.flatMap((t) => t.split('\n').filter((l) => ['run', 'invalid'].includes(classifyLine(l).kind)));
}

function expectSameLines(actual: string[], expected: string[]): void {
  expect([...actual].sort()).to.deep.equal([...expected].sort());
}

/** run_id count a rebuild must find: first lines of each id among the good lines, in store order. */
function uniqueRuns(lines: string[]): number {
  return new Set(lines.flatMap((l) => {
    const c = classifyLine(l);
    return c.kind === 'run' ? [c.runId] : [];
  })).size;
}

async function quarantined(paths: StorePaths): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const f of await readdir(paths.corrupt).catch(() => [] as string[])) out.set(f, await readFile(join(paths.corrupt, f)));
  return out;
}

/** A clean store: 30 realistic entries, 5 lines per segment. */
async function cleanStore(dir: string, compress?: 'gzip'): Promise<{ paths: StorePaths; sealed: string[] }> {
  const rec = await Recorder.open({ dir, maxLines: 5, fsync: 'never', log: quietLog, ...(compress ? { compress } : {}) });
  for (let i = 0; i < 30; i += 4) await rec.append([runEntry(i), runEntry(i + 1), runEntry(i + 2), runEntry(i + 3)]);
  const paths = storePaths(dir);
  const sealed = await sealedFiles(paths);
  expect(sealed.length).to.be.greaterThan(4);
  return { paths, sealed };
}

async function flipByte(path: string, at: (buf: Buffer) => number, mask = 0x01): Promise<void> {
  const buf = await readFile(path);
  buf[at(buf)]! ^= mask;
  await writeFile(path, buf);
}

async function expectRebuildCounts(dir: string, lines: string[]): Promise<void> {
  const agg = await runCli(['aggregate', '--dir', dir, '--rebuild', '--json']);
  expect(agg.code, agg.stderr).to.equal(0);
  expect((JSON.parse(agg.stdout) as { totalRuns: number }).totalRuns).to.equal(uniqueRuns(lines));
}

describe('verify', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  it('a clean store: ok, no problems, exit 0', async () => {
    await cleanStore(tmp.dir);
    const r = await verifyCli(tmp.dir);
    expect(r).to.deep.equal({ code: 0, ok: true, problems: [] });
    const human = await runCli(['verify', '--dir', tmp.dir]);
    expect(human.stdout).to.match(/^ok \(0 warnings\)/m);
  });

  it('flipped byte in a sealed segment: checksum error; repair keeps every line and quarantines the original', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    const target = join(paths.segments, sealed[1]!);
    // Inside a string value: still valid JSON, only the checksum can tell.
    await flipByte(target, (b) => b.indexOf('succeeded') + 3);
    const original = await readFile(target);
    const lines = await goodLines(paths);

    const r = await verifyCli(tmp.dir);
    expect(kinds(r)).to.deep.equal([[sealed[1], 'checksum']]);
    const repaired = await verifyCli(tmp.dir, true);
    expect(repaired).to.deep.equal({ code: 0, ok: true, problems: [] });
    expectSameLines(await goodLines(paths), lines);
    expect([...(await quarantined(paths)).values()]).to.deep.include(original);
    expect((await verifyCli(tmp.dir)).ok).to.equal(true);
    await expectRebuildCounts(tmp.dir, lines);
  });

  it('flipped byte that breaks a line: checksum error and a malformed warning with file:line; repair sets only that line aside', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    const target = join(paths.segments, sealed[2]!);
    const text = await readFile(target, 'utf8');
    const third = text.split('\n').slice(0, 2).join('\n').length + 1;
    await flipByte(target, () => third); // "{" becomes "z"
    const lines = await goodLines(paths);

    const r = await verifyCli(tmp.dir);
    expect(kinds(r)).to.have.deep.members([[`${sealed[2]}:3`, 'malformed'], [sealed[2], 'checksum']]);
    const repaired = await verifyCli(tmp.dir, true);
    expect(repaired.code).to.equal(0);
    expect(repaired.problems).to.deep.equal([]);
    expectSameLines(await goodLines(paths), lines);
    const saved = [...(await quarantined(paths)).values()].map((b) => b.toString('utf8'));
    expect(saved.some((s) => s.includes(`z${text.split('\n')[2]!.slice(1)}`))).to.equal(true);
    await expectRebuildCounts(tmp.dir, lines);
  });

  it('truncated segment (torn, no final newline): truncated error; repair moves exactly the torn bytes away', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    const target = join(paths.segments, sealed[0]!);
    const full = await readFile(target);
    await truncate(target, full.length - 20);
    const lines = await goodLines(paths);
    const lastNl = full.subarray(0, full.length - 20).lastIndexOf(0x0a) + 1;

    const r = await verifyCli(tmp.dir);
    expect(kinds(r)).to.deep.equal([[sealed[0], 'truncated']]);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
    expect(await readFile(target)).to.deep.equal(full.subarray(0, lastNl));
    expect([...(await quarantined(paths)).values()]).to.deep.equal([full.subarray(lastNl, full.length - 20)]);
    expectSameLines(await goodLines(paths), lines);
    await expectRebuildCounts(tmp.dir, lines);
  });

  it('stray file: a foreign warning only, exit 0; repair leaves it alone', async () => {
    const { paths } = await cleanStore(tmp.dir);
    await writeFile(join(paths.segments, 'README.txt'), 'hello\n');
    const r = await verifyCli(tmp.dir);
    expect(r.ok).to.equal(true);
    expect(kinds(r)).to.deep.equal([['README.txt', 'foreign']]);
    expect(kinds(await verifyCli(tmp.dir, true))).to.deep.equal([['README.txt', 'foreign']]);
    expect(await readFile(join(paths.segments, 'README.txt'), 'utf8')).to.equal('hello\n');
  });

  it('missing index.json: index error; repair rebuilds it with the right checksums', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    const index = JSON.parse(await readFile(paths.index, 'utf8')) as unknown;
    await rm(paths.index);
    const r = await verifyCli(tmp.dir);
    expect(kinds(r)).to.deep.equal([['index.json', 'index']]);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
    const rebuilt = JSON.parse(await readFile(paths.index, 'utf8')) as { segments: Array<{ file: string }> };
    expect(rebuilt.segments.map((s) => s.file)).to.deep.equal(sealed);
    expect(rebuilt).to.deep.equal(index);
  });

  it('index out of step: a listed segment gone and an unlisted one present are both index errors', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    const index = JSON.parse(await readFile(paths.index, 'utf8')) as { segments: Array<{ file: string }> };
    const dropped = index.segments.pop()!;
    await writeFile(paths.index, JSON.stringify(index));
    await rm(join(paths.segments, sealed[0]!));
    const r = await verifyCli(tmp.dir);
    expect(kinds(r)).to.have.deep.members([[sealed[0], 'index'], [dropped.file, 'index']]);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
  });

  it('unreadable index.json: index error; repair replaces it', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    await writeFile(paths.index, '{"version": 1, "segm');
    expect(kinds(await verifyCli(tmp.dir))).to.deep.equal([['index.json', 'index']]);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
    const rebuilt = JSON.parse(await readFile(paths.index, 'utf8')) as { segments: Array<{ file: string }> };
    expect(rebuilt.segments.map((s) => s.file)).to.deep.equal(sealed);
  });

  it('plain twin beside its .gz (a crash mid-compression): twin error; repair removes the twin, keeps the .gz', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir, 'gzip');
    const gz = join(paths.segments, sealed[0]!);
    const twin = sealed[0]!.replace(/\.gz$/, '');
    const lines = await goodLines(paths);
    await writeFile(join(paths.segments, twin), gunzipSync(await readFile(gz)));
    expect(kinds(await verifyCli(tmp.dir))).to.deep.equal([[twin, 'twin']]);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
    expect(await readdir(paths.segments)).to.include(sealed[0]).and.not.include(twin);
    expectSameLines(await goodLines(paths), lines);
  });

  it('plain twin beside a damaged .gz: repair keeps the complete plain copy, quarantines the damaged .gz, loses no line', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir, 'gzip');
    const gz = join(paths.segments, sealed[0]!);
    const twin = sealed[0]!.replace(/\.gz$/, '');
    const lines = await goodLines(paths);
    const original = await readFile(gz);
    await writeFile(join(paths.segments, twin), gunzipSync(original));
    await writeFile(gz, original.subarray(0, 30));
    const before = kinds(await verifyCli(tmp.dir));
    expect(before).to.deep.include([twin, 'twin']);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
    expect(await readdir(paths.segments)).to.include(twin).and.not.include(sealed[0]);
    expectSameLines(await goodLines(paths), lines);
    expect([...(await quarantined(paths)).values()].some((b) => b.equals(original.subarray(0, 30)))).to.equal(true);
  });

  it('torn tail in metrics.json: torn-tail error; repair quarantines exactly those bytes', async () => {
    const { paths } = await cleanStore(tmp.dir);
    const active = await readFile(paths.active);
    await appendFile(paths.active, '{"run_id":"half-writ');
    const lines = await goodLines(paths);
    const r = await verifyCli(tmp.dir);
    expect(kinds(r)).to.deep.equal([['metrics.json', 'torn-tail']]);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
    expect(await readFile(paths.active)).to.deep.equal(active);
    expect([...(await quarantined(paths)).values()].map(String)).to.deep.equal(['{"run_id":"half-writ']);
    expectSameLines(await goodLines(paths), lines);
  });

  it('malformed and invalid lines: warnings naming file:line, exit 0; repair does not drop them', async () => {
    const { paths } = await cleanStore(tmp.dir);
    const before = (await readFile(paths.active, 'utf8')).split('\n').length - 1;
    await appendFile(paths.active, 'not json at all\n[1, 2]\n{"status":"ok"}\n');
    const r = await verifyCli(tmp.dir);
    expect(r.ok).to.equal(true);
    expect(kinds(r)).to.deep.equal([
      [`metrics.json:${before + 1}`, 'malformed'],
      [`metrics.json:${before + 2}`, 'invalid'],
      [`metrics.json:${before + 3}`, 'invalid'],
    ]);
    const active = await readFile(paths.active);
    expect(kinds(await verifyCli(tmp.dir, true))).to.deep.equal(kinds(r));
    expect(await readFile(paths.active)).to.deep.equal(active);
  });

  it('symlink named like a segment: a warning, not followed; its target survives repair', async () => {
    const { paths } = await cleanStore(tmp.dir);
    const target = join(tmp.dir, 'outside.jsonl');
    await writeFile(target, 'not json, and not ours\n');
    const link = 'metrics-00000000-20250101T000000000Z.jsonl';
    await symlink(target, join(paths.segments, link));
    const r = await verifyCli(tmp.dir);
    expect(r.ok).to.equal(true);
    expect(kinds(r)).to.deep.equal([[link, 'symlink']]);
    // An error elsewhere makes repair run for real: the link must still be left alone.
    await rm(paths.index);
    const repaired = await verifyCli(tmp.dir, true);
    expect(kinds(repaired)).to.deep.equal([[link, 'symlink']]);
    expect(await readFile(target, 'utf8')).to.equal('not json, and not ours\n');
    expect(await readdir(paths.segments)).to.include(link);
  });

  it('stale temp files of the store are warnings; a fresh one may be a write in progress, until repair holds the writer lock and removes both', async () => {
    const { paths } = await cleanStore(tmp.dir);
    await writeFile(join(paths.segments, 'index.json.123456'), '{');
    await writeFile(join(paths.segments, 'index.json.654321'), '{');
    const old = new Date(Date.now() - 3600_000);
    await utimes(join(paths.segments, 'index.json.123456'), old, old);
    const r = await verifyCli(tmp.dir);
    expect(kinds(r)).to.deep.equal([['index.json.123456', 'stale-temp']]);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
    expect(await readdir(paths.segments)).to.not.include('index.json.654321').and.not.include('index.json.123456');
  });

  describe('gzip segments', () => {
    it('flipped byte in the trailer (CRC): garbled; repair keeps every line', async () => {
      const { paths, sealed } = await cleanStore(tmp.dir, 'gzip');
      const lines = await goodLines(paths);
      await flipByte(join(paths.segments, sealed[1]!), (b) => b.length - 6);
      const r = await verifyCli(tmp.dir);
      expect(kinds(r)).to.deep.equal([[sealed[1], 'garbled']]);
      expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
      expectSameLines(await goodLines(paths), lines);
      await expectRebuildCounts(tmp.dir, lines);
    });

    it('garbled deflate data: garbled; repair keeps what still inflates and quarantines the original bytes', async () => {
      const { paths, sealed } = await cleanStore(tmp.dir, 'gzip');
      const target = join(paths.segments, sealed[0]!);
      const damagedOnes = gunzipSync(await readFile(target)).toString('utf8').split('\n').filter((l) => l !== '');
      const untouched = (await goodLines(paths)).filter((l) => !damagedOnes.includes(l));
      await flipByte(target, (b) => b.length >> 1, 0xff);
      const original = await readFile(target);
      const r = await verifyCli(tmp.dir);
      expect(kinds(r)).to.deep.include([sealed[0], 'garbled']);
      const repaired = await verifyCli(tmp.dir, true);
      expect(repaired.code).to.equal(0);
      expect(repaired.problems.filter((p) => !['malformed', 'invalid'].includes(p.kind))).to.deep.equal([]);
      expect([...(await quarantined(paths)).values()]).to.deep.include(original);
      // Lines past the break may be lost as lines (never as bytes: the original is quarantined); no other line is.
      const after = await goodLines(paths);
      expectSameLines(after.filter((l) => !damagedOnes.includes(l)), untouched);
      const agg = await runCli(['aggregate', '--dir', tmp.dir, '--rebuild', '--json']);
      expect(agg.code, agg.stderr).to.equal(0);
    });

    it('truncated .gz: garbled; repair keeps the lines before the cut', async () => {
      const { paths, sealed } = await cleanStore(tmp.dir, 'gzip');
      const target = join(paths.segments, sealed[2]!);
      const full = await readFile(target);
      await truncate(target, full.length - 12);
      const r = await verifyCli(tmp.dir);
      expect(kinds(r)).to.deep.equal([[sealed[2], 'garbled']]);
      const lines = await goodLines(paths);
      expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
      expectSameLines(await goodLines(paths), lines);
      expect([...(await quarantined(paths)).values()]).to.deep.include(full.subarray(0, full.length - 12));
    });
  });

  it('everything at once: each kind reported; after repair only warnings remain, no good line lost, rebuild works', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    await flipByte(join(paths.segments, sealed[0]!), (b) => b.indexOf('succeeded') + 1);
    const cut = join(paths.segments, sealed[1]!);
    await truncate(cut, (await readFile(cut)).length - 7);
    await writeFile(join(paths.segments, 'stray.bin'), 'x');
    await symlink(join(tmp.dir, 'nowhere'), join(paths.segments, 'metrics-00000077-20250101T000000000Z.jsonl'));
    await appendFile(paths.active, `${jsonl([runEntry(500)])}garbage line\n{"run_id":"torn`);
    const lines = await goodLines(paths);

    const r = await verifyCli(tmp.dir);
    expect(r.ok).to.equal(false);
    const seen = new Set(r.problems.map((p) => p.kind));
    for (const k of ['checksum', 'truncated', 'foreign', 'symlink', 'malformed', 'torn-tail']) expect(seen, k).to.include(k);

    const repaired = await verifyCli(tmp.dir, true);
    expect(repaired.ok).to.equal(true);
    expect(repaired.code).to.equal(0);
    expect(new Set(repaired.problems.map((p) => p.kind))).to.deep.equal(new Set(['foreign', 'symlink', 'malformed']));
    expectSameLines(await goodLines(paths), lines);
    expect((await quarantined(paths)).size).to.equal(3);
    await expectRebuildCounts(tmp.dir, lines);
    // Writing goes on normally afterwards.
    const rec = await runCli(['record', '--dir', tmp.dir, '--json'], { input: jsonl([runEntry(501)]) });
    expect(rec.code, rec.stderr).to.equal(0);
    expect((await verifyCli(tmp.dir)).ok).to.equal(true);
  });

  it('after repairing an aggregated segment, the next aggregate rebuilds: incremental and rebuild agree on the repaired store', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    const first = await aggregate({ dir: tmp.dir, log: quietLog });
    const target = join(paths.segments, sealed[1]!);
    await flipByte(target, () => 0); // the first line's "{" becomes "z"
    const repaired = await verify({ dir: tmp.dir, log: quietLog, repair: true });
    expect(repaired.ok).to.equal(true);
    expect(repaired.repaired).to.include('metrics/aggregate-state.json: dropped, the next aggregate rebuilds');
    const next = await aggregate({ dir: tmp.dir, log: quietLog });
    expect(next.mode).to.equal('rebuild');
    expect(next.totals.runs).to.equal(first.totals.runs - 1);
    const rebuilt = await aggregate({ dir: tmp.dir, log: quietLog, rebuild: true });
    expect(rebuilt.totals).to.deep.equal(next.totals);
    expect(rebuilt.state).to.deep.equal(next.state);
  });

  it('repair that rewrites no segment leaves the checkpoint alone', async () => {
    const { paths } = await cleanStore(tmp.dir);
    await aggregate({ dir: tmp.dir, log: quietLog });
    await rm(paths.index);
    await verify({ dir: tmp.dir, log: quietLog, repair: true });
    expect((await aggregate({ dir: tmp.dir, log: quietLog })).mode).to.equal('incremental');
  });

  it('API: the same report, with severities', async () => {
    const { paths } = await cleanStore(tmp.dir);
    await writeFile(join(paths.segments, 'notes'), '');
    await rm(paths.index);
    const r = await verify({ dir: tmp.dir, log: quietLog });
    expect(r.ok).to.equal(false);
    expect(r.problems.map((p) => [p.kind, p.severity])).to.have.deep.members([['foreign', 'warning'], ['index', 'error']]);
    const fixed = await verify({ dir: tmp.dir, log: quietLog, repair: true });
    expect(fixed.ok).to.equal(true);
    expect(fixed.repaired.some((l) => l.includes('index.json'))).to.equal(true);
  });
});

describe('verify: the JSON files of the store, clocks, and its own leftovers', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  /** A clean store, aggregated (outputs, checkpoint, run-id index) and with a retained base. */
  async function aggregatedStore(): Promise<StorePaths> {
    const { paths } = await cleanStore(tmp.dir);
    expect((await runCli(['retention', '--dir', tmp.dir, '--max-segments', '3'])).code).to.equal(0);
    expect((await runCli(['aggregate', '--dir', tmp.dir])).code).to.equal(0);
    return paths;
  }

  const cutInHalf = async (path: string) => truncate(path, (await readFile(path)).length >> 1);

  for (const [file, repairs] of [
    ['metrics/post-rollout.json', true],
    ['metrics/per-epoch.json', true],
    ['state.json', true],
    ['metrics/aggregate-state.json', true],
    ['metrics/retained-base.json', false],
  ] as const) {
    it(`${file} cut in half (as write-file-atomic left it on a full disk): an error${repairs ? '; repair drops it and the next aggregate writes it again' : ', which repair cannot fix'}`, async () => {
      const paths = await aggregatedStore();
      await cutInHalf(join(tmp.dir, file));
      const r = await verifyCli(tmp.dir);
      expect(kinds(r)).to.deep.include([file, 'damaged-json']);
      expect(r.ok).to.equal(false);
      const repaired = await verifyCli(tmp.dir, true);
      if (!repairs) {
        expect(kinds(repaired)).to.deep.include([file, 'damaged-json']);
        return;
      }
      expect(repaired.problems).to.deep.equal([]);
      const agg = await runCli(['aggregate', '--dir', tmp.dir]);
      expect(agg.code, agg.stderr).to.equal(0);
      expect(() => JSON.parse(readFileSync(join(tmp.dir, file), 'utf8'))).to.not.throw();
      expect((await verifyCli(tmp.dir)).ok).to.equal(true);
      void paths;
    });
  }

  it('a retained base changed in place (still valid JSON): verify reports its checksum; aggregate and a rebuild refuse it, saying what to do', async () => {
    const paths = await aggregatedStore();
    const path = join(paths.metrics, 'retained-base.json');
    const text = await readFile(path, 'utf8');
    const changed = text.replace(/"runs": (\d+)/, (_m, n: string) => `"runs": ${Number(n) + 5}`);
    expect(changed).to.not.equal(text);
    await writeFile(path, changed);
    const r = await verifyCli(tmp.dir);
    expect(r.problems.find((p) => p.file === 'metrics/retained-base.json')?.detail).to.match(/checksum mismatch.*restore it from a backup/);
    for (const args of [['aggregate'], ['aggregate', '--rebuild']]) {
      const agg = await runCli([...args, '--dir', tmp.dir]);
      expect(agg.code).to.equal(1);
      expect(agg.stderr.trim().split('\n').at(-1)).to.match(/^codex-metrics: .*retained-base\.json is damaged \(checksum mismatch.*cannot be rebuilt from what is left: restore this file from a backup/);
    }
    // Refused, not overwritten.
    expect(await readFile(path, 'utf8')).to.equal(changed);
  });

  it('index.json cut in half: an index error; repair rebuilds it', async () => {
    const { paths } = await cleanStore(tmp.dir);
    await cutInHalf(paths.index);
    expect(kinds(await verifyCli(tmp.dir))).to.deep.include(['index.json', 'index']);
    expect((await verifyCli(tmp.dir, true)).problems).to.deep.equal([]);
  });

  it('reports a segment sealed in the future, before 2000, or before an earlier segment (a wrong clock), as warnings', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    const rename = async (file: string, when: string) => {
      const to = file.replace(/-\d{8}T\d{9}Z/, `-${when}`);
      await fsRename(join(paths.segments, file), join(paths.segments, to));
      return to;
    };
    const future = await rename(sealed.at(-1)!, '20990101T000000000Z');
    const past = await rename(sealed[0]!, '19990101T000000000Z');
    const backwards = await rename(sealed[2]!, '20200101T000000000Z');
    expect((await verifyCli(tmp.dir, true)).ok).to.equal(true);
    const r = await verifyCli(tmp.dir);
    expect(r.ok).to.equal(true);
    expect(r.problems.filter((p) => p.kind === 'sealed-time').map((p) => p.file).sort()).to.deep.equal([future, past, backwards].sort());
    expect(r.problems.find((p) => p.file === future)!.detail).to.match(/in the future/);
  });

  it('verify --repair killed (SIGKILL) while rewriting a segment: the next repair recovers from its leftovers at once', async () => {
    const { paths, sealed } = await cleanStore(tmp.dir);
    await flipByte(join(paths.segments, sealed[1]!), (b) => b.indexOf('succeeded') + 3);
    const lines = await goodLines(paths);
    // Half of the rewritten segment lands in its temp file, then the process dies.
    const killed = await runCli(['verify', '--dir', tmp.dir, '--repair'], { fault: { site: 'repair', op: 'write', action: 'torn-kill' } });
    expect(killed.signal).to.equal('SIGKILL');
    expect((await readdir(paths.segments)).filter((f) => f.endsWith('.tmp'))).to.have.length(1);
    const started = Date.now();
    const repaired = await verifyCli(tmp.dir, true);
    expect(repaired.problems).to.deep.equal([]);
    expect(Date.now() - started).to.be.below(20_000);
    expect((await readdir(paths.segments)).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    expectSameLines(await goodLines(paths), lines);
  });

  it('a quarantine killed before its rename leaves a temp in metrics.corrupt/ that the next lock holder removes (its bytes were still in place)', async () => {
    const { paths } = await cleanStore(tmp.dir);
    await appendFile(paths.active, '{"torn": ');
    const killed = await runCli(['record', '--dir', tmp.dir], { input: jsonl([runEntry(100)]), fault: { site: 'quarantine', op: 'write', action: 'kill' } });
    expect(killed.signal).to.equal('SIGKILL');
    const temps = (await readdir(paths.corrupt)).filter((f) => f.endsWith('.tmp'));
    expect(temps).to.have.length(1);
    expect((await readFile(join(paths.corrupt, temps[0]!))).length).to.equal(0);
    const r = await runCli(['record', '--dir', tmp.dir], { input: jsonl([runEntry(101)]) });
    expect(r.code, r.stderr).to.equal(0);
    const left = await readdir(paths.corrupt);
    expect(left.filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    expect(left.map((f) => readFileSync(join(paths.corrupt, f), 'utf8'))).to.deep.equal(['{"torn": ']);
    expect((await verifyCli(tmp.dir)).ok).to.equal(true);
  });
});

describe('verify beside live writers, seals and retention (real child processes)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir();

  it('a healthy store in use is never reported broken: an error counts only when it is still there on a second look under the writer lock', async () => {
    const env = { CODEX_METRICS_MAX_LINES: '4', CODEX_METRICS_COMPRESS: 'gzip' };
    const writers = [0, 1, 2].map((w) => startAppender({ dir: tmp.dir, prefix: `w${w}`, count: null, pad: 300 }, env));
    try {
      await Promise.all(writers.map((w) => w.waitFor(8)));
      const failures: string[] = [];
      for (let i = 0; i < 12; i++) {
        const [v] = await Promise.all([
          runCli(['verify', '--dir', tmp.dir, '--json'], { env: writerEnv(env) }),
          i % 2 ? runCli(['retention', '--dir', tmp.dir, '--max-segments', '6'], { env: writerEnv(env) }) : Promise.resolve(undefined),
        ]);
        if (v.code !== 0) failures.push(v.stdout + v.stderr);
      }
      expect(failures).to.deep.equal([]);
    } finally {
      for (const w of writers) w.child.kill('SIGKILL');
      await Promise.all(writers.map((w) => w.done));
    }
  });
});
