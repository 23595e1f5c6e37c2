/**
 * Crash tests need a step to fail at a chosen point. Only when NODE_ENV is
 * "test": CODEX_METRICS_FAULT=<point> throws there, <point>:kill dies there
 * with SIGKILL, as a power cut would. Point names contain ":" themselves
 * ("retention:after-fold"), so only a trailing ":kill" is the mode.
 */
export function faultPoint(point: string): void {
  if (process.env['NODE_ENV'] !== 'test') return;
  const fault = process.env['CODEX_METRICS_FAULT'];
  if (!fault) return;
  const kill = fault.endsWith(':kill');
  const name = kill ? fault.slice(0, -':kill'.length) : fault;
  if (name !== point) return;
  if (kill) process.kill(process.pid, 'SIGKILL');
  throw new Error(`injected fault at ${point}`);
}
