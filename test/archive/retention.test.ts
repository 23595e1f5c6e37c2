import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { recordPath } from '../../lib/archive/record.js';
import { storePaths } from '../../lib/store/names.js';
import { runCli } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { buildStore, dirArchive, localSegments } from './helpers.js';

describe('retention with an archive configured', function () {
  this.timeout(60_000);
  const tmp = useTmpDir();

  function retention(root: string, archive: string | undefined, ...more: string[]) {
    return runCli(['retention', '--dir', root, '--max-segments', '0', '--json', ...more], { env: { CODEX_METRICS_ARCHIVE: archive } });
  }

  it('deletes no segment that is not archived, and says how many it kept for that', async () => {
    const root = join(tmp.dir, 'store');
    await buildStore(root, { segments: 4 });
    const archive = join(tmp.dir, 'archive');
    const r = await retention(root, archive);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: [], kept: 4, keptUnarchived: 4 });
    expect((await localSegments(root)).size).to.equal(4);
  });

  it('deletes the archived prefix only: what was sealed after the archive run stays, byte for byte in the archive what went', async () => {
    const root = join(tmp.dir, 'store');
    const storeId = await buildStore(root, { segments: 4 });
    const archive = join(tmp.dir, 'archive');
    expect((await runCli(['archive', '--dir', root, '--to', archive])).code).to.equal(0);
    const archived = await localSegments(root);
    await buildStore(root, { segments: 2, from: 1000 });
    const later = [...(await localSegments(root)).keys()].filter((f) => !archived.has(f));
    expect(later).to.have.length(2);

    const dry = await retention(root, archive, '--dry-run');
    expect(JSON.parse(dry.stdout)).to.deep.equal({ deleted: [...archived.keys()], kept: 2, keptUnarchived: 2 });
    const r = await retention(root, archive);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ deleted: [...archived.keys()], kept: 2, keptUnarchived: 2 });
    expect([...(await localSegments(root)).keys()]).to.deep.equal(later);
    const objects = await dirArchive(archive).objects(storeId);
    for (const [f, bytes] of archived) expect(objects.get(f)!.equals(bytes), f).to.equal(true);
  });

  it('keeps everything when the local record of what was archived is lost, until `archive` finds it there again', async () => {
    const root = join(tmp.dir, 'store');
    await buildStore(root, { segments: 3 });
    const archive = join(tmp.dir, 'archive');
    expect((await runCli(['archive', '--dir', root, '--to', archive])).code).to.equal(0);
    await rm(recordPath(storePaths(root)));
    expect(JSON.parse((await retention(root, archive)).stdout)).to.deep.equal({ deleted: [], kept: 3, keptUnarchived: 3 });
    const again = await runCli(['archive', '--dir', root, '--to', archive, '--json']);
    expect(JSON.parse(again.stdout)).to.deep.equal({ archived: [], already: 3, remaining: 0 });
    expect(JSON.parse((await retention(root, archive)).stdout)).to.include({ kept: 0, keptUnarchived: 0 });
  });

  it('counts only the archive it is configured with: segments archived elsewhere are not archived here', async () => {
    const root = join(tmp.dir, 'store');
    await buildStore(root, { segments: 2 });
    expect((await runCli(['archive', '--dir', root, '--to', join(tmp.dir, 'elsewhere')])).code).to.equal(0);
    expect(JSON.parse((await retention(root, join(tmp.dir, 'archive'))).stdout)).to.deep.equal({ deleted: [], kept: 2, keptUnarchived: 2 });
  });

  it('without an archive configured, keeps the contract shape {deleted, kept}', async () => {
    const root = join(tmp.dir, 'store');
    const files = [...(await localSegments((await buildStore(join(tmp.dir, 'store'), { segments: 2 }), root))).keys()];
    expect(JSON.parse((await retention(root, undefined)).stdout)).to.deep.equal({ deleted: files, kept: 0 });
  });
});
