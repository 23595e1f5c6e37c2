import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError } from '../../lib/errors.js';
import { storePaths } from '../../lib/store/names.js';
import { loadConfig } from '../../lib/config.js';
import { Recorder } from '../../lib/store/recorder.js';
import { runCli } from '../helpers/cli.js';
import { quietLog, useTmpDir } from '../helpers/tmp.js';
import { entries, expectSegmentsWithin, idsOf, openRecorder, readStore } from '../helpers/store.js';

/** An entry whose line is exactly `bytes` bytes long, "\n" included. */
function sized(id: string, bytes: number): Record<string, unknown> {
  const base = JSON.stringify({ id, pad: '' }).length + 1;
  return { id, pad: 'x'.repeat(bytes - base) };
}

describe('store/recorder: rotation', () => {
  const tmp = useTmpDir();

  describe('MAX_LINES', () => {
    it('seals before the append that would overflow, not after the one that fills', async () => {
      const rec = await openRecorder(tmp.dir, { maxLines: 3 });
      for (const e of entries('e', 3)) await rec.append(e);
      let s = await readStore(tmp.dir);
      expect(s.segments).to.have.length(0);
      expect(s.active).to.have.length(3);
      const res = await rec.append({ id: 'e3' });
      expect(res.sealed.map((r) => [r.seq, r.lines])).to.deep.equal([[1, 3]]);
      s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['e0', 'e1', 'e2']]);
      expect(idsOf(s.active)).to.deep.equal(['e3']);
    });

    it('gives the same segments whether entries come one by one or in one batch', async () => {
      const one = join(tmp.dir, 'one');
      const batch = join(tmp.dir, 'batch');
      const r1 = await openRecorder(one, { maxLines: 3 });
      for (const e of entries('e', 11)) await r1.append(e);
      const r2 = await openRecorder(batch, { maxLines: 3 });
      const res = await r2.append(entries('e', 11));
      expect(res.recorded).to.equal(11);
      expect(res.sealed.map((r) => r.lines)).to.deep.equal([3, 3, 3]);
      const [a, b] = [await readStore(one), await readStore(batch)];
      expect(b.segments.map((x) => x.lines)).to.deep.equal(a.segments.map((x) => x.lines));
      expect(b.active).to.deep.equal(a.active);
      expectSegmentsWithin(b.segments, { maxLines: 3 });
      expect(idsOf(b.all)).to.deep.equal(entries('e', 11).map((e) => e.id));
    });

    it('lets a batch span several segments, topping up the partly filled active file first', async () => {
      const rec = await openRecorder(tmp.dir, { maxLines: 3 });
      await rec.append(entries('a', 2));
      await rec.append(entries('b', 5));
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['a0', 'a1', 'b0'], ['b1', 'b2', 'b3']]);
      expect(idsOf(s.active)).to.deep.equal(['b4']);
    });

    it('counts lines already in metrics.json when a new process opens the store', async () => {
      await (await openRecorder(tmp.dir, { maxLines: 4 })).append(entries('a', 3));
      const rec = await openRecorder(tmp.dir, { maxLines: 4 });
      await rec.append(entries('b', 2));
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => x.lines.length)).to.deep.equal([4]);
      expect(idsOf(s.active)).to.deep.equal(['b1']);
    });
  });

  describe('MAX_BYTES', () => {
    it('seals before the line that would pass the limit; exactly at the limit is allowed', async () => {
      const rec = await openRecorder(tmp.dir, { maxBytes: 90 });
      for (let i = 0; i < 7; i++) await rec.append(sized(`e${i}`, 30));
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => x.bytes)).to.deep.equal([90, 90]);
      expect(s.active).to.have.length(1);
      expectSegmentsWithin(s.segments, { maxBytes: 90 });
    });

    it('accepts units ("1KiB") and never seals a segment over the limit', async () => {
      const rec = await openRecorder(tmp.dir, { maxBytes: '1KiB' });
      const sizes = [100, 300, 50, 700, 24, 1000, 1, 200, 824, 1024, 30].map((n) => Math.max(n, 30));
      await rec.append(sizes.map((n, i) => sized(`e${i}`, n)));
      const s = await readStore(tmp.dir);
      expectSegmentsWithin(s.segments, { maxBytes: 1024 });
      expect(idsOf(s.all)).to.deep.equal(sizes.map((_, i) => `e${i}`));
      // Each segment was sealed only because the next line would not fit.
      const all = [...s.segments.map((x) => x.lines), s.active];
      for (let i = 0; i + 1 < all.length; i++) {
        expect(s.segments[i]!.bytes + Buffer.byteLength(all[i + 1]![0]!) + 1).to.be.greaterThan(1024);
      }
    });

    it('seals an entry larger than the limit alone, before and after it', async () => {
      const rec = await openRecorder(tmp.dir, { maxBytes: 100 });
      await rec.append(sized('small0', 30));
      await rec.append(sized('big', 250));
      let s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['small0']]);
      expect(idsOf(s.active)).to.deep.equal(['big']);
      await rec.append(sized('small1', 30));
      s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['small0'], ['big']]);
      expect(s.segments[1]!.bytes).to.equal(250);
      expect(idsOf(s.active)).to.deep.equal(['small1']);
    });

    it('puts an oversize entry first in an empty store without sealing anything', async () => {
      const rec = await openRecorder(tmp.dir, { maxBytes: 10 });
      const res = await rec.append([sized('big0', 40), sized('big1', 40)]);
      expect(res.sealed).to.have.length(1);
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['big0']]);
      expect(idsOf(s.active)).to.deep.equal(['big1']);
    });

    it('applies whichever of MAX_LINES and MAX_BYTES comes first', async () => {
      const rec = await openRecorder(tmp.dir, { maxLines: 3, maxBytes: 100 });
      await rec.append([sized('a', 20), sized('b', 20), sized('c', 20), sized('d', 50), sized('e', 51), sized('f', 20)]);
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['a', 'b', 'c'], ['d']]);
      expect(idsOf(s.active)).to.deep.equal(['e', 'f']);
    });
  });

  describe('rotate()', () => {
    it('never seals an empty active file: nothing to seal is a success', async () => {
      const rec = await openRecorder(tmp.dir);
      expect((await rec.rotate()).sealed).to.equal(undefined);
      await writeFile(join(tmp.dir, 'metrics.json'), '');
      expect((await rec.rotate()).sealed).to.equal(undefined);
      expect((await readStore(tmp.dir)).segments).to.have.length(0);
      await rec.append({ id: 'x' });
      expect((await rec.rotate()).sealed?.seq).to.equal(1);
      expect((await rec.rotate()).sealed).to.equal(undefined);
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['x']]);
      expect(s.active).to.deep.equal([]);
    });

    it('never seals a file holding only a torn tail (it is quarantined instead)', async () => {
      const rec = await openRecorder(tmp.dir);
      await writeFile(join(tmp.dir, 'metrics.json'), '{"id":"torn"');
      expect((await rec.rotate()).sealed).to.equal(undefined);
      const s = await readStore(tmp.dir);
      expect(s.segments).to.have.length(0);
      expect([...s.corrupt.values()]).to.deep.equal(['{"id":"torn"']);
    });
  });

  describe('sequence numbers', () => {
    it('are contiguous from 1, and the active file is the next one', async () => {
      const rec = await openRecorder(tmp.dir, { maxLines: 2 });
      await rec.append(entries('e', 9));
      await rec.rotate();
      const s = await readStore(tmp.dir);
      expectSegmentsWithin(s.segments, { maxLines: 2 });
      expect(s.segments.map((x) => x.seq)).to.deep.equal([1, 2, 3, 4, 5]);
    });

    it('never go back after every segment is deleted (index.json keeps lastSeq)', async () => {
      const paths = storePaths(tmp.dir);
      const rec = await openRecorder(tmp.dir);
      for (let i = 0; i < 3; i++) {
        await rec.append({ id: `e${i}` });
        await rec.rotate();
      }
      for (const f of await readdir(paths.segments)) if (f.startsWith('metrics-')) await rm(join(paths.segments, f));
      await rec.append({ id: 'later' });
      expect((await rec.rotate()).sealed?.seq).to.equal(4);
    });

    it('never go back when the index is lost too, with metrics.segments/store.json as the floor', async () => {
      const paths = storePaths(tmp.dir);
      const rec = await openRecorder(tmp.dir);
      for (let i = 0; i < 3; i++) {
        await rec.append({ id: `e${i}` });
        await rec.rotate();
      }
      // Every segment and the index gone; the store's own floor (store.json) remains.
      for (const f of await readdir(paths.segments)) if (f !== 'store.json') await rm(join(paths.segments, f));
      await rec.append({ id: 'later' });
      const sealed = (await rec.rotate()).sealed!;
      expect(sealed.seq).to.equal(4);
      expect(sealed.file).to.match(/^metrics-00000004-\d{8}T\d{9}Z\.jsonl$/);
    });

    it('continue after the highest file when the index is missing', async () => {
      const paths = storePaths(tmp.dir);
      const rec = await openRecorder(tmp.dir, { maxLines: 1 });
      await rec.append(entries('e', 4));
      await rm(paths.index);
      await rec.append({ id: 'x' });
      expectSegmentsWithin((await readStore(tmp.dir)).segments, { maxLines: 1 });
      expect((await readStore(tmp.dir)).segments.map((x) => x.seq)).to.deep.equal([1, 2, 3, 4]);
    });
  });

  describe('CODEX_METRICS_COMPRESS=gzip', () => {
    it('stores sealed segments as .jsonl.gz that read back to the same lines', async () => {
      const rec = await openRecorder(tmp.dir, { maxLines: 3, compress: 'gzip' });
      const batch = entries('e', 8);
      const res = await rec.append(batch);
      expect(res.sealed.map((r) => r.file)).to.satisfy((files: string[]) => files.every((f) => f.endsWith('.jsonl.gz')));
      const paths = storePaths(tmp.dir);
      const names = (await readdir(paths.segments)).sort();
      expect(names.filter((n) => n !== 'index.json' && n !== 'store.json')).to.deep.equal(res.sealed.map((r) => r.file));
      const s = await readStore(tmp.dir);
      expect(idsOf(s.all)).to.deep.equal(batch.map((e) => e.id));
      for (const r of res.sealed) {
        const raw = await readFile(join(paths.segments, r.file));
        expect(r.compressed).to.equal(true);
        expect(r.storedBytes).to.equal(raw.length);
        expect(r.sha256).to.equal(createHash('sha256').update(raw).digest('hex'));
        expect(r.bytes).to.equal(s.segments.find((x) => x.seq === r.seq)!.bytes);
      }
    });

    it('continues the sequence across a switch between plain and gzip', async () => {
      await (await openRecorder(tmp.dir, { maxLines: 2 })).append(entries('a', 3));
      await (await openRecorder(tmp.dir, { maxLines: 2, compress: 'gzip' })).append(entries('b', 4));
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => x.file.endsWith('.gz'))).to.deep.equal([false, true, true]);
      expectSegmentsWithin(s.segments, { maxLines: 2 });
      expect(idsOf(s.all)).to.deep.equal([...entries('a', 3), ...entries('b', 4)].map((e) => e.id));
    });
  });

  describe('CODEX_METRICS_ROTATE_INTERVAL', () => {
    it('seals an active segment older than the interval at the next append, not a young one', async () => {
      const rec = await openRecorder(tmp.dir, { rotateInterval: '1s' });
      await rec.append({ id: 'a' });
      await sleep(1200);
      const res = await rec.append({ id: 'b' });
      expect(res.sealed.map((r) => r.lines)).to.deep.equal([1]);
      await rec.append({ id: 'c' });
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['a']]);
      expect(idsOf(s.active)).to.deep.equal(['b', 'c']);
    });

    it('measures age from the first entry of the active segment, so a quiet spell after a seal does not seal a lone entry', async function () {
      const probe = join(tmp.dir, 'probe');
      await writeFile(probe, '');
      if (!((await stat(probe)).birthtimeMs > 0)) this.skip(); // the file system keeps no creation time
      const rec = await openRecorder(tmp.dir, { rotateInterval: '1s' });
      await rec.append({ id: 'a' });
      await rec.rotate();
      await sleep(1200);
      await rec.append({ id: 'b' });
      await rec.append({ id: 'c' });
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['a']]);
      expect(idsOf(s.active)).to.deep.equal(['b', 'c']);
    });
  });

  describe('CODEX_METRICS_ROTATE_AT', () => {
    let tz: string | undefined;
    before(() => {
      tz = process.env['TZ'];
      process.env['TZ'] = 'UTC';
    });
    after(() => {
      if (tz === undefined) delete process.env['TZ'];
      else process.env['TZ'] = tz;
    });

    it('seals at the first append after the time of day passes, so segments line up with days (each append its own process\'s recorder)', async () => {
      let now = Date.parse('2026-03-01T22:00:00Z');
      const clock = { now: () => now };
      const append = async (id: string) => {
        const rec = await Recorder.open({ config: loadConfig({ dir: tmp.dir, rotateAt: '00:00' }, { env: {}, defaultsFile: null }), log: quietLog, clock });
        return (await rec.append({ id })).sealed.map((s) => s.file);
      };
      expect(await append('d1-a')).to.deep.equal([]);
      now = Date.parse('2026-03-01T23:59:59Z');
      expect(await append('d1-b')).to.deep.equal([]);
      now = Date.parse('2026-03-02T00:00:01Z');
      // Sealed before this entry, named by the store's clock.
      expect(await append('d2-a')).to.deep.equal(['metrics-00000001-20260302T000001000Z.jsonl']);
      now = Date.parse('2026-03-02T18:00:00Z');
      expect(await append('d2-b')).to.deep.equal([]);
      // A quiet day: the first entry after two midnights seals day 2 once.
      now = Date.parse('2026-03-04T09:00:00Z');
      expect(await append('d4-a')).to.have.length(1);
      now = Date.parse('2026-03-04T09:00:01Z');
      expect(await append('d4-b')).to.deep.equal([]);
      const s = await readStore(tmp.dir);
      expect(s.segments.map((x) => idsOf(x.lines))).to.deep.equal([['d1-a', 'd1-b'], ['d2-a', 'd2-b']]);
      expect(idsOf(s.active)).to.deep.equal(['d4-a', 'd4-b']);
    });

    it('a value that does not parse: exit 2 naming the variable and the value, nothing written', async () => {
      for (const bad of ['24:00', '7', '12:60', 'midnight', '-1:00']) {
        const r = await runCli(['record', '--dir', tmp.dir], { input: '{"id":"x"}\n', env: { CODEX_METRICS_ROTATE_AT: bad } });
        expect(r.code, bad).to.equal(2);
        expect(r.stderr).to.contain(`CODEX_METRICS_ROTATE_AT=${JSON.stringify(bad)}`);
      }
      expect(await readdir(tmp.dir)).to.deep.equal([]);
      const ok = await runCli(['record', '--dir', tmp.dir], { input: '{"id":"x"}\n', env: { CODEX_METRICS_ROTATE_AT: '6:30' } });
      expect(ok.code, ok.stderr).to.equal(0);
    });
  });

  describe('input', () => {
    it('rejects a batch holding anything but plain objects, writing nothing', async () => {
      const rec = await openRecorder(tmp.dir);
      await rec.append({ id: 'keep' });
      for (const bad of [null, [1], 'str', 5, new Date(0), new Map()]) {
        let err: unknown;
        try {
          await rec.append([{ id: 'ok' }, bad as unknown as Record<string, unknown>]);
        } catch (e) {
          err = e;
        }
        expect(err, String(bad)).to.be.instanceOf(InputError);
        expect((err as Error).message).to.include('entry 2');
      }
      expect(idsOf((await readStore(tmp.dir)).all)).to.deep.equal(['keep']);
    });

    it('rejects objects that do not serialize to a JSON object (BigInt, cycles, toJSON), writing nothing', async () => {
      const rec = await openRecorder(tmp.dir);
      const cyclic: Record<string, unknown> = { id: 'c' };
      cyclic['self'] = cyclic;
      for (const bad of [{ id: 'b', n: 1n }, cyclic, { toJSON: () => 5 }, { toJSON: () => undefined }]) {
        let err: unknown;
        try {
          await rec.append([{ id: 'ok' }, bad]);
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(InputError);
        expect((err as Error).message).to.include('entry 2');
      }
      expect((await readStore(tmp.dir)).all).to.deep.equal([]);
    });

    it('validates JSON Lines text whole: the error names the line, nothing is written', async () => {
      const rec = await openRecorder(tmp.dir);
      for (const [text, line] of [['{"id":"a"}\n[1]\n', 2], ['{"id":"a"}\n\n{"id":"b"}\n{oops\n', 4], ['"x"\n', 1]] as const) {
        let err: unknown;
        try {
          await rec.appendText(text, 'in.jsonl');
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(InputError);
        expect((err as Error).message).to.include(`in.jsonl line ${line}`);
      }
      expect((await readStore(tmp.dir)).all).to.deep.equal([]);
      const res = await rec.appendText('{"id":"a"}\r\n\n  {"id":"b"}  \n{"id":"c"}');
      expect(res.recorded).to.equal(3);
      expect((await readStore(tmp.dir)).all).to.deep.equal(['{"id":"a"}', '{"id":"b"}', '{"id":"c"}']);
    });

    it('refuses a root that is a file', async () => {
      const file = join(tmp.dir, 'file');
      await writeFile(file, 'x');
      let err: unknown;
      try {
        await openRecorder(file);
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).to.include('not a directory');
    });
  });
});
