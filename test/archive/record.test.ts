import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { jsonl, runCli, runEntry } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { dirArchive, localSegments, storeIdOf } from './helpers.js';

describe('record with an archive configured', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();
  const input = jsonl([0, 1, 2, 3, 4].map((i) => runEntry(i)));

  it('archives what it sealed, after releasing the writer lock', async () => {
    const root = join(tmp.dir, 'store');
    const archive = join(tmp.dir, 'archive');
    const r = await runCli(['record', '--dir', root, '--json'], { input, env: { CODEX_METRICS_MAX_LINES: '2', CODEX_METRICS_ARCHIVE: archive } });
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ recorded: 5 });
    const local = await localSegments(root);
    expect(local.size).to.equal(2);
    const objects = await dirArchive(archive).objects(storeIdOf(root));
    for (const [f, bytes] of local) expect(objects.get(f)?.equals(bytes), f).to.equal(true);
    expect(objects.has('index.json')).to.equal(true);
  });

  it('records and acknowledges even when the archive cannot be written: a warning, exit 0', async () => {
    const root = join(tmp.dir, 'store');
    const blocker = join(tmp.dir, 'a-file');
    await writeFile(blocker, 'not a directory\n');
    const r = await runCli(['record', '--dir', root, '--json'], { input, env: { CODEX_METRICS_MAX_LINES: '2', CODEX_METRICS_ARCHIVE: join(blocker, 'archive') } });
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ recorded: 5 });
    expect(r.stderr).to.match(/could not archive the sealed segments now/);
    expect((await localSegments(root)).size).to.equal(2);
  });

  it('gives up on an S3 endpoint that refuses connections: a warning, still exit 0', async () => {
    const root = join(tmp.dir, 'store');
    const r = await runCli(['record', '--dir', root, '--json'], {
      input,
      env: { CODEX_METRICS_MAX_LINES: '2', CODEX_METRICS_ARCHIVE: 's3://fleet/ci', CODEX_METRICS_S3_ENDPOINT: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' },
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ recorded: 5 });
    expect(r.stderr).to.match(/could not archive the sealed segments now/);
  });

  it('does not archive when nothing was sealed', async () => {
    const root = join(tmp.dir, 'store');
    const archive = join(tmp.dir, 'archive');
    const r = await runCli(['record', '--dir', root], { input, env: { CODEX_METRICS_ARCHIVE: archive } });
    expect(r.code, r.stderr).to.equal(0);
    expect(await dirArchive(archive).names(storeIdOf(root))).to.deep.equal([]);
  });
});
