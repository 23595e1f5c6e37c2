import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig, parseCount, parseDuration, parseSize, type ConfigOptions } from '../lib/config.js';
import { UsageError } from '../lib/errors.js';
import { useTmpDir } from './helpers/tmp.js';

function usageErrorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(UsageError);
    return err as UsageError;
  }
  expect.fail('expected a UsageError');
}

describe('config', () => {
  describe('parseSize', () => {
    it('reads bytes, decimal and binary units, any case and spacing', () => {
      expect(parseSize('10485760', 'X')).to.equal(10485760);
      expect(parseSize('10MiB', 'X')).to.equal(10 * 1024 * 1024);
      expect(parseSize('512KB', 'X')).to.equal(512_000);
      expect(parseSize('512KiB', 'X')).to.equal(512 * 1024);
      expect(parseSize(' 2 gb ', 'X')).to.equal(2e9);
      expect(parseSize('1.5k', 'X')).to.equal(1500);
      expect(parseSize('100b', 'X')).to.equal(100);
      expect(parseSize(4096, 'X')).to.equal(4096);
    });

    it('takes 0 as a value (no limit) and blank as unset', () => {
      expect(parseSize('0', 'X')).to.equal(0);
      expect(parseSize(0, 'X')).to.equal(0);
      expect(parseSize('', 'X')).to.equal(undefined);
      expect(parseSize('  ', 'X')).to.equal(undefined);
      expect(parseSize(undefined, 'X')).to.equal(undefined);
      expect(parseSize(null, 'X')).to.equal(undefined);
    });

    it('rejects garbage, negatives, unknown units, fractions of a number and unsafe sizes, naming source and value', () => {
      for (const bad of ['abc', '-5', '10 MiBs', '1e3', '10XB', '0x10', '5,000', -5, 1.5, Number.NaN, Infinity, '99999999999999999999', true, {}]) {
        const err = usageErrorOf(() => parseSize(bad, 'CODEX_METRICS_MAX_BYTES'));
        expect(err.message).to.include('CODEX_METRICS_MAX_BYTES');
        if (typeof bad === 'string') expect(err.message).to.include(JSON.stringify(bad));
      }
    });
  });

  describe('parseDuration', () => {
    it('reads ms, s, m, h, d, w; a bare number is milliseconds', () => {
      expect(parseDuration('250', 'X')).to.equal(250);
      expect(parseDuration('250ms', 'X')).to.equal(250);
      expect(parseDuration('90s', 'X')).to.equal(90_000);
      expect(parseDuration('5m', 'X')).to.equal(300_000);
      expect(parseDuration('1h', 'X')).to.equal(3_600_000);
      expect(parseDuration('1.5h', 'X')).to.equal(5_400_000);
      expect(parseDuration('7d', 'X')).to.equal(7 * 86_400_000);
      expect(parseDuration('2w', 'X')).to.equal(14 * 86_400_000);
      expect(parseDuration(0, 'X')).to.equal(0);
    });

    it('rejects what is not a duration', () => {
      for (const bad of ['1y', '-1s', 'soon', '1 h 30 m', 'h']) {
        expect(usageErrorOf(() => parseDuration(bad, 'CODEX_METRICS_ROTATE_INTERVAL')).message).to.include(`CODEX_METRICS_ROTATE_INTERVAL=${JSON.stringify(bad)}`);
      }
    });
  });

  describe('parseCount', () => {
    it('reads whole numbers >= 0 from strings or numbers', () => {
      expect(parseCount('7', 'X')).to.equal(7);
      expect(parseCount(' 7 ', 'X')).to.equal(7);
      expect(parseCount(0, 'X')).to.equal(0);
      expect(parseCount(12, 'X')).to.equal(12);
      expect(parseCount('', 'X')).to.equal(undefined);
    });

    it('rejects negatives, fractions, units and garbage', () => {
      for (const bad of ['-5', -5, '1.5', 1.5, '7 lines', '1k', 'abc', '99999999999999999999', false]) {
        usageErrorOf(() => parseCount(bad, 'CODEX_METRICS_MAX_LINES'));
      }
    });
  });

  describe('loadConfig', () => {
    const tmp = useTmpDir();
    const load = (options: ConfigOptions, env: NodeJS.ProcessEnv, defaultsFile: string | null = null) => loadConfig(options, { env, defaultsFile });
    const writeJson = async (name: string, value: unknown) => {
      const path = join(tmp.dir, name);
      await writeFile(path, JSON.stringify(value));
      return path;
    };

    it('has the contract defaults with nothing set, and the shipped config/default.json agrees', () => {
      const builtIn = load({}, {});
      expect(builtIn).to.deep.equal({
        dir: resolve('.'),
        maxBytes: 0,
        maxLines: 0,
        rotateIntervalMs: 0,
        compress: 'none',
        retention: { maxSegments: undefined, maxAgeMs: undefined, maxBytes: undefined },
        fsync: 'seal',
        lockStaleMs: 300_000,
        logLevel: 'info',
        archive: undefined,
        s3Endpoint: undefined,
      });
      expect(loadConfig({}, { env: {} })).to.deep.equal(builtIn);
      expect(loadConfig({}, { env: {}, defaultLogLevel: 'warn' }).logLevel).to.equal('warn');
    });

    it('layers defaults < config/default.json < CODEX_METRICS_CONFIG < env < options', async () => {
      const defaults = await writeJson('defaults.json', { maxLines: 10, maxBytes: '1MiB', compress: 'gzip', fsync: 'always', lockStaleMs: 1000, retention: { maxSegments: 3 } });
      const user = await writeJson('user.json', { maxLines: 20, maxBytes: '2MiB', fsync: 'never', retention: { maxAge: '1d' } });
      const env = { CODEX_METRICS_CONFIG: user, CODEX_METRICS_MAX_LINES: '30', CODEX_METRICS_MAX_BYTES: '3MiB' };
      const c = load({ maxLines: 40 }, env, defaults);
      expect(c.maxLines).to.equal(40); // options
      expect(c.maxBytes).to.equal(3 * 1024 ** 2); // env
      expect(c.fsync).to.equal('never'); // user file
      expect(c.compress).to.equal('gzip'); // defaults file
      expect(c.lockStaleMs).to.equal(1000); // defaults file
      expect(c.retention).to.deep.equal({ maxSegments: 3, maxAgeMs: 86_400_000, maxBytes: undefined });
      expect(c.rotateIntervalMs).to.equal(0); // built-in
      expect(load({}, env, defaults).maxLines).to.equal(30);
      expect(load({}, { CODEX_METRICS_CONFIG: user }, defaults).maxLines).to.equal(20);
      expect(load({}, {}, defaults).maxLines).to.equal(10);
    });

    it('reads the archive as s3://bucket/prefix, a file: URL or a directory, and the S3 endpoint as an http(s) URL', async () => {
      const user = await writeJson('user.json', { archive: 's3://fleet-metrics/ci/', s3Endpoint: 'http://127.0.0.1:7480/' });
      const c = load({}, { CODEX_METRICS_CONFIG: user });
      expect(c.archive).to.deep.equal({ kind: 's3', bucket: 'fleet-metrics', prefix: 'ci', url: 's3://fleet-metrics/ci' });
      expect(c.s3Endpoint).to.equal('http://127.0.0.1:7480');
      expect(load({}, { CODEX_METRICS_ARCHIVE: 'file:///mnt/archive' }).archive).to.deep.equal({ kind: 'dir', path: '/mnt/archive', url: 'file:///mnt/archive' });
      expect(load({}, { CODEX_METRICS_ARCHIVE: 'archive' }).archive).to.deep.equal({ kind: 'dir', path: resolve('archive'), url: `file://${resolve('archive')}` });
      expect(() => load({}, { CODEX_METRICS_ARCHIVE: 's3://Not_A_Bucket' })).to.throw(UsageError, /invalid CODEX_METRICS_ARCHIVE="s3:\/\/Not_A_Bucket"/);
      expect(() => load({}, { CODEX_METRICS_ARCHIVE: 'gs://bucket/x' })).to.throw(UsageError, /invalid CODEX_METRICS_ARCHIVE/);
      expect(() => load({}, { CODEX_METRICS_S3_ENDPOINT: 'ftp://x' })).to.throw(UsageError, /invalid CODEX_METRICS_S3_ENDPOINT="ftp:\/\/x": expected an http\(s\) URL/);
      expect(() => load({}, { CODEX_METRICS_S3_ENDPOINT: 'not a url' })).to.throw(UsageError, /invalid CODEX_METRICS_S3_ENDPOINT/);
    });

    it('treats null in a file and an empty env value as unset, so the layer below wins', async () => {
      const defaults = await writeJson('defaults.json', { maxLines: 10 });
      const user = await writeJson('user.json', { maxLines: null });
      expect(load({}, { CODEX_METRICS_CONFIG: user, CODEX_METRICS_MAX_LINES: '' }, defaults).maxLines).to.equal(10);
    });

    it('lets 0 in a higher layer lift a limit set below', async () => {
      const defaults = await writeJson('defaults.json', { maxLines: 10 });
      expect(load({}, { CODEX_METRICS_MAX_LINES: '0' }, defaults).maxLines).to.equal(0);
    });

    it('takes the root from options, then CODEX_METRICS_DIR, then the current directory', () => {
      expect(load({ dir: 'a' }, { CODEX_METRICS_DIR: 'b' }).dir).to.equal(resolve('a'));
      expect(load({}, { CODEX_METRICS_DIR: 'b' }).dir).to.equal(resolve('b'));
      expect(load({}, { CODEX_METRICS_DIR: '' }).dir).to.equal(resolve('.'));
    });

    it('names the variable and the value of a bad env setting', () => {
      for (const [name, value] of [
        ['CODEX_METRICS_MAX_BYTES', 'abc'],
        ['CODEX_METRICS_MAX_LINES', '-5'],
        ['CODEX_METRICS_FSYNC', 'sometimes'],
        ['CODEX_METRICS_COMPRESS', 'zstd'],
        ['CODEX_METRICS_ROTATE_INTERVAL', 'weekly'],
        ['CODEX_METRICS_LOCK_STALE_MS', '0'],
        ['CODEX_METRICS_LOCK_STALE_MS', '1'],
        ['CODEX_METRICS_LOCK_STALE_MS', '999'],
        ['CODEX_METRICS_LOG_LEVEL', 'loud'],
        ['CODEX_METRICS_RETENTION_MAX_SEGMENTS', 'many'],
      ] as const) {
        const err = usageErrorOf(() => load({}, { [name]: value }));
        expect(err.message, name).to.include(`${name}="${value}"`);
      }
    });

    it('rejects a bad value even when a higher layer overrides it', () => {
      usageErrorOf(() => load({ maxLines: 5 }, { CODEX_METRICS_MAX_LINES: 'abc' }));
    });

    it('names the file and the key of a bad file value', async () => {
      const user = await writeJson('user.json', { retention: { maxBytes: 'lots' } });
      const err = usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: user }));
      expect(err.message).to.include('retention.maxBytes').and.include(user).and.include('"lots"');
    });

    it('rejects bad option values the same way', () => {
      usageErrorOf(() => load({ maxBytes: '12 parsecs' }, {}));
      usageErrorOf(() => load({ fsync: 'sometimes' }, {}));
    });

    it('rejects unknown keys in a config file, top level and under retention; $ and _ keys are comments', async () => {
      const typo = await writeJson('typo.json', { maxLine: 5 });
      expect(usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: typo })).message).to.include('"maxLine"').and.include(typo);
      const nested = await writeJson('nested.json', { retention: { maxSegment: 5 } });
      expect(usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: nested })).message).to.include('"maxSegment"');
      const defaults = await writeJson('defaults.json', { colour: 'blue' });
      usageErrorOf(() => load({}, {}, defaults));
      const commented = await writeJson('commented.json', { $comment: 'x', _maxLines: 'doc', maxLines: 4 });
      expect(load({}, { CODEX_METRICS_CONFIG: commented }).maxLines).to.equal(4);
    });

    it('does not take the metrics root from a config file (it would be silently ignored)', async () => {
      const user = await writeJson('user.json', { dir: '/elsewhere' });
      expect(usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: user })).message).to.include('"dir"');
    });

    it('rejects a config file that is missing, not JSON, or not an object', async () => {
      usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: join(tmp.dir, 'nope.json') }));
      const notJson = join(tmp.dir, 'bad.json');
      await writeFile(notJson, '{ maxLines: 5 ');
      expect(usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: notJson })).message).to.include(notJson);
      const array = await writeJson('array.json', [1, 2]);
      usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: array }));
      const retention = await writeJson('retention.json', { retention: 5 });
      usageErrorOf(() => load({}, { CODEX_METRICS_CONFIG: retention }));
    });
  });
});
