// Bundles the compiled CLI (dist/lib/cli/main.js) into one ES module,
// dist/lib/cli.bundle.mjs, which bin/codex-metrics runs: one file to read and
// compile instead of ~35, a large part of start-up. Commands stay lazy:
// esbuild keeps each `import()` as a module initialised on first use. It sits
// in dist/lib/ beside config.js, so the package-relative URLs it holds
// (config/default.json, package.json) resolve as they do unbundled.
// pino (JSON logs only) and signal-exit (one instance shared with
// write-file-atomic) stay in node_modules, loaded by require when used.
import { readdirSync, rmSync } from 'node:fs';

let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  // Installed without dev dependencies: bin/codex-metrics runs the compiled modules instead.
  console.warn('esbuild not installed: the CLI runs unbundled (slower to start)');
  process.exit(0);
}

const dist = process.argv[2] ?? 'dist';
const out = `${dist}/lib`;
// Chunks of an earlier build: their names carry hashes, so they are not overwritten.
for (const f of readdirSync(out)) if (f.startsWith('cli.bundle')) rmSync(`${out}/${f}`);
await build({
  entryPoints: { 'cli.bundle': `${dist}/lib/cli/main.js` },
  outdir: out,
  // One chunk per command (and shared ones), loaded when the command runs: --help reads only the first.
  splitting: true,
  chunkNames: 'cli.bundle-[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['pino', 'signal-exit'],
  // Bundled CommonJS (split2, write-file-atomic) calls require() for Node's own modules and reads __filename.
  banner: {
    js: [
      "import { createRequire as __bundleRequire } from 'node:module';",
      "import { fileURLToPath as __bundlePath } from 'node:url';",
      'const require = __bundleRequire(import.meta.url);',
      'const __filename = __bundlePath(import.meta.url);',
    ].join(' '),
  },
  logLevel: 'warning',
});
