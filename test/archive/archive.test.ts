import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { recordPath } from '../../lib/archive/record.js';
import { storePaths } from '../../lib/store/names.js';
import { BIN, runCli } from '../helpers/cli.js';
import { useS3Server } from '../helpers/s3-server.js';
import { useTmpDir } from '../helpers/tmp.js';
import { buildStore, dirArchive, localSegments, s3Archive, type ArchiveUnderTest } from './helpers.js';

function archiveCli(root: string, a: ArchiveUnderTest, ...more: string[]) {
  return runCli(['archive', '--dir', root, '--to', a.url, '--json', ...more], { env: a.env });
}

/** Exactly the local sealed segments, byte for byte, and the catalogue naming each with its sha256. */
async function expectArchivedExactly(root: string, a: ArchiveUnderTest, storeId: string): Promise<void> {
  const local = await localSegments(root);
  const objects = await a.objects(storeId);
  const catalogue = JSON.parse(objects.get('index.json')?.toString('utf8') ?? 'null') as { storeId: string; segments: Array<{ file: string; sha256: string }> };
  objects.delete('index.json');
  expect([...objects.keys()]).to.deep.equal([...local.keys()]);
  for (const [name, bytes] of local) expect(objects.get(name)!.equals(bytes), name).to.equal(true);
  expect(catalogue.storeId).to.equal(storeId);
  expect(catalogue.segments.map((s) => s.file)).to.deep.equal([...local.keys()]);
}

/** The same behaviour, whatever the archive is. */
function archiveBehaviour(make: (n: number) => ArchiveUnderTest | undefined): void {
  const tmp = useTmpDir();
  let n = 0;
  const fresh = () => make(++n)!;

  it('copies plain and gzip segments, bytes unchanged, then the catalogue; a second run copies nothing', async () => {
    const root = join(tmp.dir, 'store');
    const storeId = await buildStore(root);
    const a = fresh();
    const files = [...(await localSegments(root)).keys()];
    expect(files.some((f) => f.endsWith('.jsonl.gz')) && files.some((f) => f.endsWith('.jsonl'))).to.equal(true);

    const dry = await archiveCli(root, a, '--dry-run');
    expect(dry.code, dry.stderr).to.equal(0);
    expect(JSON.parse(dry.stdout)).to.deep.equal({ archived: files, already: 0, remaining: files.length });
    expect(await a.names(storeId)).to.deep.equal([]);

    const r = await archiveCli(root, a);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ archived: files, already: 0, remaining: 0 });
    await expectArchivedExactly(root, a, storeId);

    const again = await archiveCli(root, a);
    expect(JSON.parse(again.stdout)).to.deep.equal({ archived: [], already: files.length, remaining: 0 });
  });

  it('with the local record deleted, uploads nothing again: each segment is found there and compared', async () => {
    const root = join(tmp.dir, 'store');
    const storeId = await buildStore(root);
    const a = fresh();
    expect((await archiveCli(root, a)).code).to.equal(0);
    await rm(recordPath(storePaths(root)));
    const r = await archiveCli(root, a);
    expect(r.code, r.stderr).to.equal(0);
    const files = [...(await localSegments(root)).keys()];
    expect(JSON.parse(r.stdout)).to.deep.equal({ archived: [], already: files.length, remaining: 0 });
    await expectArchivedExactly(root, a, storeId);
  });

  it('refuses an archived segment altered since, and leaves it as it is', async () => {
    const root = join(tmp.dir, 'store');
    const storeId = await buildStore(root);
    const a = fresh();
    expect((await archiveCli(root, a)).code).to.equal(0);
    const victim = [...(await localSegments(root)).keys()][1]!;
    const altered = Buffer.from('{"run_id":"forged","status":"succeeded","recorded_at":"2026-01-01T00:00:00Z"}\n');
    await a.replace(storeId, victim, altered);
    await rm(recordPath(storePaths(root)));

    const r = await archiveCli(root, a);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(new RegExp(`codex-metrics: archive conflict: .*${victim.replace(/\./g, '\\.')} holds other bytes`));
    expect((await a.objects(storeId)).get(victim)!.equals(altered)).to.equal(true);
  });

  it('killed with SIGKILL at random moments, then run again: every segment there exactly once, bytes equal', async function () {
    this.timeout(180_000);
    const root = join(tmp.dir, 'store');
    const storeId = await buildStore(root, { segments: 60, linesPer: 20, pad: 2000 });
    const a = fresh();
    let killedMidway = 0;
    // A whole run is Node's start (~100 ms) plus a few ms to a few hundred of copying on a
    // quiet machine: kills spread over that window land before, during and after the copies.
    for (let round = 0; round < 10; round++) {
      const child = spawn(process.execPath, [BIN, 'archive', '--dir', root, '--to', a.url], { env: { ...process.env, ...a.env }, stdio: 'ignore' });
      await sleep(20 + Math.floor(Math.random() * 250));
      const done = child.exitCode !== null;
      child.kill('SIGKILL');
      await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      if (!done) killedMidway++;
    }
    expect(killedMidway, 'no run was killed before it finished: the store is too small to test anything').to.be.greaterThan(0);
    const r = await archiveCli(root, a);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).remaining).to.equal(0);
    await expectArchivedExactly(root, a, storeId);
  });
}

describe('archive to a directory', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  archiveBehaviour((n) => dirArchive(join(tmp.dir, `archive-${n}`)));

  it('is bad usage without an archive, or with a URL it cannot use', async () => {
    const root = join(tmp.dir, 'store');
    await buildStore(root, { segments: 2 });
    const none = await runCli(['archive', '--dir', root], { env: { CODEX_METRICS_ARCHIVE: undefined } });
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/codex-metrics: no archive given/);
    for (const bad of ['', 'ftp://host/x', 's3://Bad_Bucket/x']) {
      const r = await runCli(['archive', '--dir', root, '--to', bad]);
      expect(r.code, bad).to.equal(2);
      expect(r.stderr).to.match(/invalid --to=/);
    }
    const env = await runCli(['archive', '--dir', root], { env: { CODEX_METRICS_ARCHIVE: 's3://x' } });
    expect(env.code).to.equal(2);
    expect(env.stderr).to.match(/invalid CODEX_METRICS_ARCHIVE="s3:\/\/x"/);
  });

  it('takes the archive from CODEX_METRICS_ARCHIVE as a file: URL', async () => {
    const root = join(tmp.dir, 'store');
    const storeId = await buildStore(root, { segments: 2 });
    const a = dirArchive(join(tmp.dir, 'by-env'));
    const r = await runCli(['archive', '--dir', root, '--json'], { env: { CODEX_METRICS_ARCHIVE: `file://${join(tmp.dir, 'by-env')}` } });
    expect(r.code, r.stderr).to.equal(0);
    await expectArchivedExactly(root, a, storeId);
  });
});

describe('archive to S3 (a real Ceph RADOS Gateway)', function () {
  this.timeout(60_000);
  const s3 = useS3Server();
  const bucket = 'archive-test';
  before(async function () {
    if (s3.server) await s3.server.client.createBucket(bucket);
  });
  archiveBehaviour((n) => (s3.server ? s3Archive(s3.server, bucket, `run-${n}`) : undefined));
});
