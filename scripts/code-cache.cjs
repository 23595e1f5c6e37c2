'use strict';
// Makes dist/lib/cli.bundle.cache: V8's code for the bundle after it has run the
// commands that must start fast (--help, then record --aggregate into a new store and
// again into that store), so those functions start compiled. Run by bundle-cli.mjs in
// a child of its own, as the bin would run the bundle; a failure only leaves no cache.
const { mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { CACHE, readBundle, loadBundle } = require('../bin/bundle.cjs');

// The runs below go to a scratch store only: none of the builder's own settings (an
// archive, a config file, rotation) may reach them.
for (const name of Object.keys(process.env)) if (name.startsWith('CODEX_METRICS_')) delete process.env[name];

async function main() {
  const source = readBundle();
  if (source === undefined) throw new Error('no bundle to make a cache for');
  const { exports: cli, script } = loadBundle(source);
  const dir = mkdtempSync(join(tmpdir(), 'codex-metrics-cache-'));
  try {
    const input = join(dir, 'runs.jsonl');
    const argvs = [['--help'], ['record', '--aggregate', '--dir', join(dir, 'store'), input], ['record', '--aggregate', '--dir', join(dir, 'store'), input]];
    for (const [i, argv] of argvs.entries()) {
      writeFileSync(input, `${JSON.stringify({ run_id: `cache-${i}`, status: 'succeeded', recorded_at: new Date().toISOString(), duration_seconds: 1 })}\n`);
      process.argv = [process.argv[0], 'codex-metrics', ...argv];
      await cli.run();
      if (process.exitCode !== 0) throw new Error(`codex-metrics ${argv[0]} exited ${process.exitCode}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Renamed into place: a CLI starting meanwhile reads the old cache or the new one, never half of one.
  const tmp = `${CACHE}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.concat([Buffer.from(`${source.slice(0, source.indexOf('\n'))}\n`), script.createCachedData()]));
  renameSync(tmp, CACHE);
}

main().then(
  () => (process.exitCode = 0),
  (err) => {
    process.stderr.write(`no code cache for the CLI bundle (it starts a little slower): ${err.message}\n`);
    process.exitCode = 0;
  },
);
