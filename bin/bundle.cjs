'use strict';
// Runs dist/lib/cli.bundle.cjs, the one-file CLI that "npm run build" makes, the way
// Node's require would, but through vm.Script so that V8 can start from a code cache
// (Node 20 has no module.enableCompileCache): parsing and compiling the bundle was a
// tenth of a record's whole process. The cache is used only when its first line names
// the build whose first line the bundle carries: V8's own check compares little more
// than the source's length, so a cache from another build of the same size would run
// that build's code. V8 refuses a cache from another Node or other flags by itself.
const { readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');
const { createRequire } = require('node:module');

const BUNDLE = join(__dirname, '..', 'dist', 'lib', 'cli.bundle.cjs');
const CACHE = join(__dirname, '..', 'dist', 'lib', 'cli.bundle.cache');

/** The bundle's source, or undefined when there is none (built without esbuild). */
function readBundle() {
  try {
    return readFileSync(BUNDLE, 'utf8');
  } catch (err) {
    if (err && err.code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The cached code for this build of the bundle, if there is one. */
function cachedDataFor(source) {
  let file;
  try {
    file = readFileSync(CACHE);
  } catch {
    return undefined;
  }
  const end = file.indexOf(10);
  const build = source.slice(0, source.indexOf('\n'));
  return end > 0 && file.toString('utf8', 0, end) === build ? file.subarray(end + 1) : undefined;
}

/** Compiles and runs the bundle (one function expression, wrapped when built): its exports, and the script (to make a cache from). */
function loadBundle(source) {
  const script = new Script(source, { filename: BUNDLE, cachedData: cachedDataFor(source) });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return { exports: module.exports, script };
}

module.exports = { BUNDLE, CACHE, readBundle, loadBundle };
