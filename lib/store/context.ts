import { statSync } from 'node:fs';
import { loadConfig, type Config, type ConfigOptions } from '../config.js';
import { ifExistsSync, StoreError } from '../errors.js';
import { defaultLogger, type Logger } from '../log.js';
import { systemClock, type Clock } from './clock.js';
import { storePaths, type StorePaths } from './names.js';

export interface StoreOptions extends ConfigOptions {
  /** A ready config (skips loading); options above are ignored then. */
  config?: Config;
  log?: Logger;
  /** The store's time (rotation, sealing times, retention's age limit); tests pass their own. */
  clock?: Clock;
}

export interface StoreContext {
  config: Config;
  paths: StorePaths;
  log: Logger;
  clock: Clock;
}

export function storeContext(options: StoreOptions | string = {}): StoreContext {
  const opts = typeof options === 'string' ? { dir: options } : options;
  const config = opts.config ?? loadConfig(opts);
  const log = opts.log ?? defaultLogger(config.logLevel);
  return { config, paths: storePaths(config.dir), log, clock: opts.clock ?? systemClock };
}

/** The metrics root must be a directory or not exist yet; anything else is a clear error. */
export async function checkRoot(paths: StorePaths, mustExist: boolean): Promise<void> {
  // stat, not lstat: the root may be a symlink to a directory (nothing inside it is followed).
  const st = ifExistsSync(() => statSync(paths.root));
  if (st && !st.isDirectory()) throw new StoreError(`${paths.root} is not a directory`);
  if (!st && mustExist) throw new StoreError(`${paths.root} does not exist`);
}

