/**
 * Crash tests need a step to fail at a chosen point. Only when NODE_ENV is
 * "test": CODEX_METRICS_FAULT=<point> throws there, <point>:kill dies there
 * with SIGKILL, as a power cut would. Point names contain ":" themselves
 * ("retention:after-fold"), so only a trailing ":kill" is the mode.
 */
function armed(): { name: string; kill: boolean } | undefined {
  if (process.env['NODE_ENV'] !== 'test') return undefined;
  const fault = process.env['CODEX_METRICS_FAULT'];
  if (!fault) return undefined;
  const kill = fault.endsWith(':kill');
  return { name: kill ? fault.slice(0, -':kill'.length) : fault, kill };
}

/** True when the next faultPoint(point) will fire: lets a step leave a partial effect (half a write) first. */
export function faultArmed(point: string): boolean {
  return armed()?.name === point;
}

export function faultPoint(point: string): void {
  const fault = armed();
  if (fault?.name !== point) return;
  if (fault.kill) process.kill(process.pid, 'SIGKILL');
  throw new Error(`injected fault at ${point}`);
}
