import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from './errors.js';
import { isLogLevel } from './log.js';
import { parseArchiveLocation, parseEndpoint, type ArchiveLocation } from './archive/location.js';
import { MIN_LOCK_STALE_MS } from './store/lock-timing.js';

export type FsyncMode = 'always' | 'seal' | 'never';
export type Compression = 'none' | 'gzip';

export interface RetentionPolicy {
  /** Keep at most this many sealed segments (undefined: no limit; 0: keep none). */
  maxSegments?: number | undefined;
  /** Delete sealed segments sealed longer ago than this. */
  maxAgeMs?: number | undefined;
  /** Keep the newest sealed segments whose stored bytes add up to at most this. */
  maxBytes?: number | undefined;
}

/** A wall-clock time of day, in the local time zone (TZ). */
export interface TimeOfDay {
  hour: number;
  minute: number;
}

export interface Config {
  dir: string;
  /** 0: no limit. */
  maxBytes: number;
  /** 0: no limit. */
  maxLines: number;
  /** 0: no interval rotation. */
  rotateIntervalMs: number;
  /** Also seal at the first append after this time of day passes. */
  rotateAt?: TimeOfDay;
  compress: Compression;
  retention: RetentionPolicy;
  fsync: FsyncMode;
  lockStaleMs: number;
  logLevel: string;
  /** Where sealed segments are archived; undefined: nowhere. */
  archive: ArchiveLocation | undefined;
  /** S3-compatible endpoint (path-style); undefined: AWS for the region. */
  s3Endpoint: string | undefined;
}

/** What a caller may pass: raw values as a user writes them ("10MiB", "1d") or numbers. */
export interface ConfigOptions {
  dir?: string;
  maxBytes?: number | string;
  maxLines?: number | string;
  rotateInterval?: number | string;
  /** "HH:MM", local time (TZ). */
  rotateAt?: string;
  compress?: string;
  retention?: { maxSegments?: number | string; maxAge?: number | string; maxBytes?: number | string };
  fsync?: string;
  lockStaleMs?: number | string;
  logLevel?: string;
  archive?: string;
  s3Endpoint?: string;
}

type Parser<T> = (raw: unknown, source: string) => T | undefined;

function fail(source: string, raw: unknown, expected: string): never {
  throw new UsageError(`invalid ${source}=${JSON.stringify(raw)}: expected ${expected}`);
}

/** Unset values (absent, null, empty string) mean "not given here": the layer below wins. */
function isUnset(raw: unknown): boolean {
  return raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '');
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, kib: 1024,
  m: 1e6, mb: 1e6, mib: 1024 ** 2,
  g: 1e9, gb: 1e9, gib: 1024 ** 3,
  t: 1e12, tb: 1e12, tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  '': 1, ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3,
};

function unitParser(units: Record<string, number>, expected: string): Parser<number> {
  return (raw, source) => {
    if (isUnset(raw)) return undefined;
    if (typeof raw === 'number') {
      if (Number.isSafeInteger(raw) && raw >= 0) return raw;
      fail(source, raw, expected);
    }
    if (typeof raw !== 'string') fail(source, raw, expected);
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
    const unit = m ? units[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) fail(source, raw, expected);
    const value = Math.round(Number(m[1]) * unit);
    // "0.4" bytes must not round to 0, which means "no limit".
    if (!Number.isSafeInteger(value) || (value === 0 && Number(m[1]) > 0)) fail(source, raw, expected);
    return value;
  };
}

export const parseSize = unitParser(SIZE_UNITS, 'a size like 10485760, 10MiB or 512KB');
export const parseDuration = unitParser(DURATION_UNITS, 'a duration like 90s, 1h or 7d (a bare number is milliseconds)');

export const parseCount: Parser<number> = (raw, source) => {
  if (isUnset(raw)) return undefined;
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !/^\s*\d+\s*$/.test(text)) fail(source, raw, 'a whole number >= 0');
  const value = Number(text);
  if (!Number.isSafeInteger(value)) fail(source, raw, 'a whole number >= 0');
  return value;
};

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw, source) => {
    if (isUnset(raw)) return undefined;
    const text = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
    if (typeof text === 'string' && (values as readonly string[]).includes(text)) return text as T;
    fail(source, raw, `one of ${values.join(', ')}`);
  };
}

/** Below the floor, a holder on another host (or a foreign lock) could be taken over while it works. */
const parseStaleMs: Parser<number> = (raw, source) => {
  const expected = `a whole number of milliseconds >= ${MIN_LOCK_STALE_MS} (holders refresh the lock every ${MIN_LOCK_STALE_MS / 4} ms or more)`;
  let value: number | undefined;
  try {
    value = parseCount(raw, source);
  } catch {
    fail(source, raw, expected);
  }
  if (value !== undefined && value < MIN_LOCK_STALE_MS) fail(source, raw, expected);
  return value;
};

const parseTimeOfDay: Parser<TimeOfDay> = (raw, source) => {
  if (isUnset(raw)) return undefined;
  const m = typeof raw === 'string' ? /^\s*(\d{1,2}):(\d{2})\s*$/.exec(raw) : null;
  const hour = Number(m?.[1]);
  const minute = Number(m?.[2]);
  if (!m || hour > 23 || minute > 59) fail(source, raw, 'a time of day HH:MM, 00:00 to 23:59 (local time, or TZ)');
  return { hour, minute };
};

const parseLevel: Parser<string> = (raw, source) => {
  if (isUnset(raw)) return undefined;
  if (typeof raw === 'string' && isLogLevel(raw.trim().toLowerCase())) return raw.trim().toLowerCase();
  fail(source, raw, 'a pino level: fatal, error, warn, info, debug, trace or silent');
};

function textParser<T>(parse: (text: string, source: string) => T): Parser<T> {
  return (raw, source) => {
    if (isUnset(raw)) return undefined;
    if (typeof raw !== 'string') fail(source, raw, 'a string');
    return parse(raw, source);
  };
}

/** One row per setting: where it lives in a config file, its env name, its parser. */
interface Setting {
  path: readonly string[];
  env: string;
  parse: Parser<unknown>;
}

const SETTINGS: readonly Setting[] = [
  { path: ['maxBytes'], env: 'CODEX_METRICS_MAX_BYTES', parse: parseSize },
  { path: ['maxLines'], env: 'CODEX_METRICS_MAX_LINES', parse: parseCount },
  { path: ['rotateInterval'], env: 'CODEX_METRICS_ROTATE_INTERVAL', parse: parseDuration },
  { path: ['rotateAt'], env: 'CODEX_METRICS_ROTATE_AT', parse: parseTimeOfDay },
  { path: ['compress'], env: 'CODEX_METRICS_COMPRESS', parse: oneOf(['none', 'gzip'] as const) },
  { path: ['retention', 'maxSegments'], env: 'CODEX_METRICS_RETENTION_MAX_SEGMENTS', parse: parseCount },
  { path: ['retention', 'maxAge'], env: 'CODEX_METRICS_RETENTION_MAX_AGE', parse: parseDuration },
  { path: ['retention', 'maxBytes'], env: 'CODEX_METRICS_RETENTION_MAX_BYTES', parse: parseSize },
  { path: ['fsync'], env: 'CODEX_METRICS_FSYNC', parse: oneOf(['always', 'seal', 'never'] as const) },
  { path: ['lockStaleMs'], env: 'CODEX_METRICS_LOCK_STALE_MS', parse: parseStaleMs },
  { path: ['logLevel'], env: 'CODEX_METRICS_LOG_LEVEL', parse: parseLevel },
  { path: ['archive'], env: 'CODEX_METRICS_ARCHIVE', parse: textParser(parseArchiveLocation) },
  { path: ['s3Endpoint'], env: 'CODEX_METRICS_S3_ENDPOINT', parse: textParser(parseEndpoint) },
];

const KNOWN_KEYS = new Set(SETTINGS.map((s) => s.path[0]!));
const KNOWN_RETENTION_KEYS = new Set(SETTINGS.filter((s) => s.path.length === 2).map((s) => s.path[1]!));

function pick(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Keys starting with "$" or "_" are documentation (JSON has no comments). */
function checkKeys(obj: Record<string, unknown>, known: Set<string>, where: string): void {
  for (const key of Object.keys(obj)) {
    if (key.startsWith('$') || key.startsWith('_') || known.has(key)) continue;
    // Accepting it would silently write somewhere the user did not ask for.
    if (key === 'dir') throw new UsageError(`"dir" is not a setting in ${where}: the metrics root comes from --dir or CODEX_METRICS_DIR`);
    throw new UsageError(`unknown setting "${key}" in ${where}`);
  }
}

function readConfigFile(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(`${what} ${path} must hold a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  checkKeys(obj, KNOWN_KEYS, `${what} ${path}`);
  const retention = obj['retention'];
  if (retention !== undefined && retention !== null) {
    if (typeof retention !== 'object' || Array.isArray(retention)) {
      throw new UsageError(`"retention" in ${what} ${path} must be an object`);
    }
    checkKeys(retention as Record<string, unknown>, KNOWN_RETENTION_KEYS, `${what} ${path}`);
  }
  return obj;
}

export const DEFAULT_CONFIG_FILE = new URL('../../config/default.json', import.meta.url);
/** The package's package.json (for --version); like the line above, relative to dist/lib/, where the CLI bundle also sits. */
export const PACKAGE_FILE = new URL('../../package.json', import.meta.url);

export interface LoadConfigContext {
  env?: NodeJS.ProcessEnv;
  /** The CLI logs at warn by default, the library at info. */
  defaultLogLevel?: string;
  /** Where config/default.json is; tests point it elsewhere. */
  defaultsFile?: string | URL | null;
}

/**
 * Layers, lowest first: built-in defaults, config/default.json, the file named
 * by CODEX_METRICS_CONFIG, the environment, then options. Every value is
 * parsed where it enters so an error names the layer it came from.
 */
export function loadConfig(options: ConfigOptions = {}, ctx: LoadConfigContext = {}): Config {
  const env = ctx.env ?? process.env;
  const layers: Array<{ name: string; get: (s: Setting) => unknown }> = [];
  const defaultsFile = ctx.defaultsFile === undefined ? DEFAULT_CONFIG_FILE : ctx.defaultsFile;
  if (defaultsFile !== null) {
    const path = defaultsFile instanceof URL ? defaultsFile.pathname : defaultsFile;
    const obj = readConfigFile(path, 'default config');
    layers.push({ name: path, get: (s) => pick(obj, s.path) });
  }
  const userFile = env['CODEX_METRICS_CONFIG'];
  if (!isUnset(userFile)) {
    const obj = readConfigFile(resolve(userFile!), 'CODEX_METRICS_CONFIG file');
    layers.push({ name: userFile!, get: (s) => pick(obj, s.path) });
  }
  layers.push({ name: 'env', get: (s) => env[s.env] });
  layers.push({ name: 'options', get: (s) => pick(options, s.path) });

  const values = new Map<string, unknown>();
  for (const setting of SETTINGS) {
    for (const layer of layers) {
      const raw = layer.get(setting);
      const source = layer.name === 'env' ? setting.env : `${setting.path.join('.')} (${layer.name})`;
      const parsed = setting.parse(raw, source);
      if (parsed !== undefined) values.set(setting.env, parsed);
    }
  }
  const v = <T>(envName: string): T | undefined => values.get(envName) as T | undefined;

  const dirOption = options.dir ?? env['CODEX_METRICS_DIR'];
  return {
    dir: resolve(isUnset(dirOption) ? '.' : dirOption!),
    maxBytes: v<number>('CODEX_METRICS_MAX_BYTES') ?? 0,
    maxLines: v<number>('CODEX_METRICS_MAX_LINES') ?? 0,
    rotateIntervalMs: v<number>('CODEX_METRICS_ROTATE_INTERVAL') ?? 0,
    ...(values.has('CODEX_METRICS_ROTATE_AT') ? { rotateAt: v<TimeOfDay>('CODEX_METRICS_ROTATE_AT')! } : {}),
    compress: v<Compression>('CODEX_METRICS_COMPRESS') ?? 'none',
    retention: {
      maxSegments: v<number>('CODEX_METRICS_RETENTION_MAX_SEGMENTS'),
      maxAgeMs: v<number>('CODEX_METRICS_RETENTION_MAX_AGE'),
      maxBytes: v<number>('CODEX_METRICS_RETENTION_MAX_BYTES'),
    },
    fsync: v<FsyncMode>('CODEX_METRICS_FSYNC') ?? 'seal',
    lockStaleMs: v<number>('CODEX_METRICS_LOCK_STALE_MS') ?? 300_000,
    logLevel: v<string>('CODEX_METRICS_LOG_LEVEL') ?? ctx.defaultLogLevel ?? 'info',
    archive: v<ArchiveLocation>('CODEX_METRICS_ARCHIVE'),
    s3Endpoint: v<string>('CODEX_METRICS_S3_ENDPOINT'),
  };
}
