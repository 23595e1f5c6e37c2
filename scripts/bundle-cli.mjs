// Bundles the compiled CLI (dist/lib/cli/main.js) into one CommonJS file,
// dist/lib/cli.bundle.cjs, which bin/codex-metrics runs, then makes V8's code cache
// for it (scripts/code-cache.cjs). One file to read, and, with the cache, nothing
// to parse: that and skipping Node's ES module loader are most of the start-up it
// saves. Commands stay lazy: esbuild keeps each bundled module behind an
// initialiser run on first import(), so a command's modules and the Node modules
// they need (crypto, streams, zlib) load only when it runs. The bundle sits in
// dist/lib/ beside config.js, so the package-relative URLs it holds
// (config/default.json, package.json) resolve as they do unbundled. pino (JSON
// logs only) stays in node_modules, loaded by require when used.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';

let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  // Installed without dev dependencies: bin/codex-metrics runs the compiled modules instead.
  console.warn('esbuild not installed: the CLI runs unbundled (slower to start)');
  process.exit(0);
}

const out = 'dist/lib';

// node:fs/promises loads readline, fs watchers and streams with it (~2 ms, 2% of node -e 0),
// while a record --aggregate calls none of its functions (the store's hot path is sync).
// In the bundle it is a module of forwarders that load it on the first call.
const fsPromises = await import('node:fs/promises');
const forwarders = Object.entries(fsPromises)
  .filter(([name, value]) => typeof value === 'function' && name !== 'default')
  .map(([name]) => `export function ${name}(...args) { return load().${name}(...args); }`);
const lazyFsPromises = {
  name: 'lazy-fs-promises',
  setup(b) {
    // The forwarders' own require of it is left to Node.
    b.onResolve({ filter: /^(node:)?fs\/promises$/ }, (args) =>
      args.namespace === 'lazy-fs-promises' ? { path: 'node:fs/promises', external: true } : { path: 'fs/promises', namespace: 'lazy-fs-promises' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-fs-promises' }, () => ({
      contents: [
        'let loaded;',
        "const load = () => (loaded ??= require('node:fs/promises'));",
        ...forwarders,
        "export const constants = require('node:fs').constants;",
      ].join('\n'),
      loader: 'js',
    }));
  },
};
// Whatever an earlier build left (its code cache belongs to that build).
for (const f of readdirSync(out)) if (f.startsWith('cli.bundle')) rmSync(`${out}/${f}`);
await build({
  entryPoints: [`${out}/cli/main.js`],
  outfile: `${out}/cli.bundle.cjs`,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['pino'],
  plugins: [lazyFsPromises],
  // import('node:zlib') as a require: a script run by vm has no loader for import().
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__bundleUrl' },
  // The first line names this build: bin/bundle.cjs uses a code cache only when its first line is the same.
  // Wrapped here as Node wraps a CommonJS module, so that the bin compiles the file as it is read
  // rather than a copy joined at start-up. Strict, as the ES modules it was bundled from.
  banner: {
    js: `// codex-metrics CLI bundle ${randomUUID()}\n(function (exports, require, module, __filename, __dirname) { 'use strict'; const __bundleUrl = require('node:url').pathToFileURL(__filename).href;`,
  },
  footer: { js: '\n})' },
  // Whitespace and syntax only: names stay as written (stack traces, pino's error type) without
  // esbuild's keepNames, whose call per function cost more at start-up than the longer names.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
const made = spawnSync(process.execPath, ['scripts/code-cache.cjs'], { stdio: ['ignore', 'ignore', 'inherit'] });
if (made.status !== 0) console.warn(`the code cache was not made (exit ${made.status}): the CLI starts a little slower`);
