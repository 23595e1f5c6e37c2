import { realFileSystem, useFileSystem, type FileSystem, type Step, type WriteSite } from '../../lib/store/fs-env.js';

export type FsOp = 'open' | 'write' | 'fsync' | 'rename' | 'unlink';

/**
 * One injected fault: where (a named step, or the nth call of an operation at
 * a write site) and what happens there.
 *  - kill: SIGKILL, as a power cut would (before the call);
 *  - throw: an Error "injected fault at <where>";
 *  - ENOSPC, EDQUOT, EIO: the call fails with that errno;
 *  - short: from then on every write at the site writes at most half of what it is given;
 *  - zero: the write writes nothing;
 *  - torn-kill: the write lands half its bytes, then SIGKILL.
 */
export interface Fault {
  step?: Step;
  site?: WriteSite;
  op?: FsOp;
  /** Which matching call (1-based; default 1). */
  nth?: number;
  action: 'kill' | 'throw' | 'ENOSPC' | 'EDQUOT' | 'EIO' | 'short' | 'zero' | 'torn-kill';
}

function errno(code: string, where: string): Error {
  return Object.assign(new Error(`${code}: injected at ${where}`), { code });
}

/** A FileSystem over the real one that fires `fault` once (short writes: from its nth call on). `fired` says whether it did. */
export function faultyFileSystem(fault: Fault, base: FileSystem = realFileSystem): FileSystem & { fired: boolean } {
  let seen = 0;
  const where = fault.step ?? `${fault.site}:${fault.op ?? 'write'}`;
  const fs = {
    fired: false,
    hits(op: FsOp, site: WriteSite): boolean {
      if (fault.step || site !== fault.site || op !== (fault.op ?? 'write')) return false;
      seen++;
      if (fault.action === 'short') return seen >= (fault.nth ?? 1);
      return seen === (fault.nth ?? 1);
    },
    fire(): void {
      fs.fired = true;
      if (fault.action === 'kill') process.kill(process.pid, 'SIGKILL');
      if (fault.action === 'throw') throw new Error(`injected fault at ${where}`);
      throw errno(fault.action === 'ENOSPC' || fault.action === 'EDQUOT' ? fault.action : 'EIO', where);
    },
    open(path: string, flags: number, mode: number, site: WriteSite) {
      if (fs.hits('open', site)) fs.fire();
      return base.open(path, flags, mode, site);
    },
    write(fd: number, data: Uint8Array, offset: number, length: number, site: WriteSite) {
      if (fs.hits('write', site)) {
        if (fault.action === 'short') {
          fs.fired = true;
          return base.write(fd, data, offset, Math.ceil(length / 2), site);
        }
        if (fault.action === 'zero') {
          fs.fired = true;
          return 0;
        }
        if (fault.action === 'torn-kill') {
          fs.fired = true;
          base.write(fd, data, offset, Math.ceil(length / 2), site);
          process.kill(process.pid, 'SIGKILL');
        }
        fs.fire();
      }
      return base.write(fd, data, offset, length, site);
    },
    fsync(fd: number, site: WriteSite) {
      if (fs.hits('fsync', site)) fs.fire();
      base.fsync(fd, site);
    },
    rename(from: string, to: string, site: WriteSite) {
      if (fs.hits('rename', site)) fs.fire();
      base.rename(from, to, site);
    },
    unlink(path: string, site: WriteSite) {
      if (fs.hits('unlink', site)) fs.fire();
      base.unlink(path, site);
    },
    step(step: Step) {
      if (fault.step === step && ++seen === (fault.nth ?? 1)) fs.fire();
      base.step(step);
    },
  };
  return fs;
}

/** Run `work` with `fault` installed in this process; resolves to whether it fired and how work ended. */
export async function withFault<T>(fault: Fault, work: () => Promise<T>): Promise<{ fired: boolean; error?: unknown; value?: T }> {
  const fs = faultyFileSystem(fault);
  const restore = useFileSystem(fs);
  try {
    const value = await work();
    return { fired: fs.fired, value };
  } catch (error) {
    return { fired: fs.fired, error };
  } finally {
    restore();
  }
}

/** The environment variable through which a child started by runCli({ fault }) learns its fault. */
export const FAULT_ENV = 'CODEX_METRICS_TEST_FAULT';

/** What such a child prints on stderr, just before it exits, when its fault fired (a SIGKILL says so by itself). */
export const FAULT_FIRED = 'codex-metrics-test: injected fault fired';
