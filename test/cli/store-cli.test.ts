import { expect } from 'chai';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { tryLock } from '../../lib/store/lock.js';
import { jsonl, runCli, runEntry, type CliResult } from '../helpers/cli.js';
import { idsOf, readStore } from '../helpers/store.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';

/** Every file under `root` with its content: to show that a failed command wrote nothing. */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = join(dir, n);
      if ((await stat(p)).isDirectory()) {
        out[`${relative(root, p)}/`] = '';
        await walk(p);
      } else {
        out[relative(root, p)] = await readFile(p, 'utf8');
      }
    }
  }
  await walk(root);
  return out;
}

/** A failure ends with one plain line on stderr. */
function lastErrorLine(r: CliResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  const last = lines.at(-1)!;
  expect(last).to.match(/^codex-metrics: \S/);
  expect(() => JSON.parse(last), 'a plain line, not a log record').to.throw();
  return last;
}

describe('cli: record, rotate, segments', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const root = () => join(tmp.dir, 'store');
  const cli = (args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) => runCli([...args, '--dir', root()], opts);
  const ids = async () => idsOf((await readStore(root())).all);

  describe('record', () => {
    it('appends JSON Lines from a FILE and from stdin ("-" or no FILE), and says how many', async () => {
      const file = join(tmp.dir, 'in.jsonl');
      await writeFile(file, jsonl([{ id: 'f0' }, { id: 'f1' }]));
      const fromFile = await cli(['record', file]);
      expect(fromFile.code, fromFile.stderr).to.equal(0);
      expect(fromFile.stdout).to.equal('recorded 2 entries\n');
      const fromStdin = await cli(['record'], { input: jsonl([{ id: 's0' }]) });
      expect(fromStdin.stdout).to.equal('recorded 1 entry\n');
      const dash = await cli(['record', '-'], { input: `${jsonl([{ id: 'd0' }])}\n\n` });
      expect(dash.code).to.equal(0);
      expect(await ids()).to.deep.equal(['f0', 'f1', 's0', 'd0']);
    });

    it('prints {"recorded": N} with --json, also for empty input', async () => {
      const r = await cli(['record', '--json'], { input: jsonl([runEntry(1), runEntry(2), runEntry(3)]) });
      expect(r.stdout).to.equal('{"recorded":3}\n');
      expect((await cli(['record', '--json'], { input: '' })).stdout).to.equal('{"recorded":0}\n');
    });

    it('rotates per the environment', async () => {
      const r = await cli(['record', '--json'], { input: jsonl(Array.from({ length: 7 }, (_, i) => ({ id: `e${i}` }))), env: { CODEX_METRICS_MAX_LINES: '3' } });
      expect(r.code, r.stderr).to.equal(0);
      const s = await readStore(root());
      expect(s.segments.map((x) => x.lines.length)).to.deep.equal([3, 3]);
      expect(s.active).to.have.length(1);
    });

    it('takes the root from $CODEX_METRICS_DIR, else the current directory', async () => {
      await mkdir(root(), { recursive: true });
      expect((await runCli(['record'], { input: jsonl([{ id: 'env' }]), env: { CODEX_METRICS_DIR: root() } })).code).to.equal(0);
      expect((await runCli(['record'], { input: jsonl([{ id: 'cwd' }]), cwd: root() })).code).to.equal(0);
      expect(await ids()).to.deep.equal(['env', 'cwd']);
    });
  });

  describe('rotate', () => {
    it('seals the active file, and succeeds with nothing to seal', async () => {
      await mkdir(root());
      const empty = await cli(['rotate']);
      expect(empty.code, empty.stderr).to.equal(0);
      expect(empty.stdout).to.match(/nothing to seal/);
      expect(JSON.parse((await cli(['rotate', '--json'])).stdout)).to.deep.equal({ sealed: null });
      await cli(['record'], { input: jsonl([runEntry(1), runEntry(2)]) });
      const r = await cli(['rotate', '--json']);
      expect(r.code).to.equal(0);
      const { sealed } = JSON.parse(r.stdout) as { sealed: { seq: number; file: string; lines: number } };
      expect(sealed).to.include({ seq: 1, lines: 2 });
      expect(sealed.file).to.match(/^metrics-00000001-\d{8}T\d{9}Z\.jsonl$/);
      const human = await cli(['record'], { input: jsonl([runEntry(3)]) }).then(() => cli(['rotate']));
      expect(human.stdout).to.match(/^sealed metrics-00000002-\S+\.jsonl \(1 lines?, \d+ B\)\n$/);
    });
  });

  describe('segments', () => {
    it('--json lists sealed segments then the active file, in the contract\'s shape', async () => {
      await cli(['record'], { input: jsonl([runEntry(1), runEntry(2), runEntry(3)]), env: { CODEX_METRICS_MAX_LINES: '2' } });
      const r = await cli(['segments', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const { segments, storeId, ...rest } = JSON.parse(r.stdout) as { segments: Array<Record<string, unknown>>; storeId: unknown };
      expect(rest).to.deep.equal({});
      expect(storeId).to.be.a('string');
      expect(segments).to.have.length(2);
      for (const s of segments) {
        expect(Object.keys(s)).to.have.members(['seq', 'file', 'state', 'lines', 'bytes', 'firstRecordedAt', 'lastRecordedAt', 'sealedAt', 'folded']);
        expect(Object.keys(s)).to.have.length(9);
      }
      const [sealed, active] = segments;
      const store = await readStore(root());
      expect(sealed).to.deep.equal({
        seq: 1,
        file: store.segments[0]!.file,
        state: 'sealed',
        lines: 2,
        bytes: store.segments[0]!.bytes,
        firstRecordedAt: runEntry(1)['recorded_at'],
        lastRecordedAt: runEntry(2)['recorded_at'],
        sealedAt: sealed!['sealedAt'],
        folded: false,
      });
      expect(new Date(sealed!['sealedAt'] as string).toISOString()).to.equal(sealed!['sealedAt']);
      expect(active).to.deep.equal({
        seq: 2,
        file: 'metrics.json',
        state: 'active',
        lines: 1,
        bytes: Buffer.byteLength(JSON.stringify(runEntry(3))) + 1,
        firstRecordedAt: runEntry(3)['recorded_at'],
        lastRecordedAt: runEntry(3)['recorded_at'],
        sealedAt: null,
        folded: false,
      });
    });

    it('marks what the aggregate checkpoint has folded', async () => {
      await cli(['record'], { input: jsonl([runEntry(1), runEntry(2), runEntry(3)]), env: { CODEX_METRICS_MAX_LINES: '2' } });
      expect((await cli(['aggregate'])).code).to.equal(0);
      await cli(['record'], { input: jsonl([runEntry(4), runEntry(5)]), env: { CODEX_METRICS_MAX_LINES: '2' } });
      const { segments } = JSON.parse((await cli(['segments', '--json'])).stdout) as { segments: Array<{ seq: number; folded: boolean }> };
      expect(segments.map((s) => [s.seq, s.folded])).to.deep.equal([[1, true], [2, false], [3, false]]);
    });

    it('prints a table for people, and says so when there is nothing', async () => {
      await mkdir(root());
      expect((await cli(['segments'])).stdout).to.equal('no segments\n');
      await cli(['record'], { input: jsonl([runEntry(1)]) });
      const lines = (await cli(['segments'])).stdout.trimEnd().split('\n');
      expect(lines[0]).to.match(/^SEQ\s+FILE\s+LINES\s+SIZE\s+FIRST RECORDED\s+LAST RECORDED\s+FOLDED$/);
      expect(lines[1]).to.match(/^1\s+metrics\.json \(active\)\s+1\s+\d+ B\s+2026-01-01 00:01\s/);
    });

    it('fails on a root that does not exist, creating nothing', async () => {
      const r = await cli(['segments']);
      expect(r.code).to.equal(1);
      expect(lastErrorLine(r)).to.include('does not exist');
      expect(await tree(tmp.dir)).to.deep.equal({});
    });
  });

  describe('logs', () => {
    it('logs each spill, stale-lock takeover, quarantine, merge and seal to stderr as pino JSON; stdout stays data', async () => {
      const env = { CODEX_METRICS_LOG_LEVEL: 'info', CODEX_METRICS_MAX_LINES: '1' };
      await mkdir(root());
      const held = (await tryLock(join(root(), 'metrics.lock'), { staleMs: 300_000, log: quietLog }))!;
      const spill = await cli(['record', '--json'], { input: jsonl([{ id: 'p' }]), env });
      await held.release();
      expect(spill.stdout).to.equal('{"recorded":1}\n');
      const messages = (r: CliResult) => r.stderr.trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(messages(spill).join('\n')).to.match(/spilled/);

      const dead = spawnSync(process.execPath, ['-e', '']).pid;
      await writeFile(join(root(), 'metrics.lock'), JSON.stringify({ pid: dead, host: hostname(), time: new Date().toISOString(), token: 't' }));
      await writeFile(join(root(), 'metrics.json'), '{"id":"to');
      const repair = await cli(['record', '--json'], { input: jsonl([{ id: 'a' }, { id: 'b' }]), env });
      expect(repair.code, repair.stderr).to.equal(0);
      expect(repair.stdout).to.equal('{"recorded":2}\n');
      const msgs = messages(repair).join('\n');
      for (const what of [/took over stale lock/, /torn tail/, /merged pending/, /sealed segment/]) expect(msgs).to.match(what);
    });
  });

  describe('usage', () => {
    it('--help on every command exits 0 with its usage on stdout', async () => {
      const top = await runCli(['--help']);
      expect(top.code).to.equal(0);
      expect(top.stdout).to.match(/^Usage: codex-metrics <command>/);
      for (const name of ['record', 'aggregate', 'segments', 'rotate', 'retention', 'verify']) {
        const r = await runCli([name, '--help']);
        expect(r.code, name).to.equal(0);
        expect(r.stdout, name).to.match(new RegExp(`^Usage: codex-metrics ${name}\\b`));
        expect(r.stdout, name).to.include('--dir').and.include('--json');
        expect((await runCli([name, '-h'])).code, `${name} -h`).to.equal(0);
      }
    });

    it('exits 2 for no command, an unknown command, an unknown flag, an extra argument', async () => {
      const none = await runCli([]);
      expect(none.code).to.equal(2);
      for (const [args, says] of [
        [['frobnicate'], 'unknown command "frobnicate"'],
        [['record', '--bogus'], '--bogus'],
        [['segments', '-x'], '-x'],
        [['rotate', 'now'], 'unexpected argument "now"'],
        [['record', 'a.jsonl', 'b.jsonl'], 'unexpected argument "b.jsonl"'],
      ] as const) {
        const r = await cli([...args]);
        expect(r.code, args.join(' ')).to.equal(2);
        expect(lastErrorLine(r)).to.include(says);
      }
      expect(await tree(tmp.dir)).to.deep.equal({});
    });

    it('exits 2 for a bad env value, naming the variable and the value, writing nothing', async () => {
      for (const [name, value] of [['CODEX_METRICS_MAX_BYTES', 'abc'], ['CODEX_METRICS_MAX_LINES', '-5'], ['CODEX_METRICS_FSYNC', 'sometimes']]) {
        for (const command of ['record', 'rotate', 'segments']) {
          const r = await cli([command], { env: { [name!]: value }, input: jsonl([{ id: 'x' }]) });
          expect(r.code, `${command} ${name}`).to.equal(2);
          expect(lastErrorLine(r)).to.include(`${name}="${value}"`);
        }
      }
      expect(await tree(tmp.dir)).to.deep.equal({});
    });
  });

  describe('bad input: exit 1, one plain reason, nothing written', () => {
    beforeEach(async () => {
      const r = await cli(['record'], { input: jsonl([{ id: 'before' }]) });
      expect(r.code).to.equal(0);
    });

    for (const [what, input, says] of [
      ['a line that is not an object', `${jsonl([{ id: 'ok' }])}[1,2]\n${jsonl([{ id: 'ok2' }])}`, 'line 2'],
      ['a JSON string', '"hello"\n', 'line 1'],
      ['null', `${jsonl([{ id: 'ok' }])}\nnull\n`, 'line 3'],
      ['a line that is not JSON', `${jsonl([{ id: 'ok' }, { id: 'ok2' }])}{"id": "half"\n`, 'line 3'],
    ] as const) {
      it(`rejects ${what}, naming the line`, async () => {
        const before = await tree(tmp.dir);
        const r = await cli(['record'], { input });
        expect(r.code).to.equal(1);
        const last = lastErrorLine(r);
        expect(last).to.include(says);
        expect(last).to.include('stdin');
        expect(r.stdout).to.equal('');
        expect(await tree(tmp.dir)).to.deep.equal(before);
      });
    }

    it('names the FILE in the error when reading from one', async () => {
      const file = join(tmp.dir, 'bad.jsonl');
      await writeFile(file, '{"id":1}\n{nope}\n');
      const before = await tree(tmp.dir);
      const r = await cli(['record', file]);
      expect(r.code).to.equal(1);
      expect(lastErrorLine(r)).to.include(`${file} line 2`);
      expect(await tree(tmp.dir)).to.deep.equal(before);
    });

    it('fails on a FILE that cannot be read', async () => {
      const before = await tree(tmp.dir);
      const r = await cli(['record', join(tmp.dir, 'missing.jsonl')]);
      expect(r.code).to.equal(1);
      expect(lastErrorLine(r)).to.include('missing.jsonl');
      expect(await tree(tmp.dir)).to.deep.equal(before);
    });

    it('fails on --dir that is a file, for every store command', async () => {
      const file = join(tmp.dir, 'plain-file');
      await writeFile(file, 'not a store\n');
      const before = await tree(tmp.dir);
      for (const command of ['record', 'rotate', 'segments']) {
        const r = await runCli([command, '--dir', file], { input: jsonl([{ id: 'x' }]) });
        expect(r.code, command).to.equal(1);
        expect(lastErrorLine(r), command).to.include('not a directory');
      }
      expect(await tree(tmp.dir)).to.deep.equal(before);
    });
  });
});
