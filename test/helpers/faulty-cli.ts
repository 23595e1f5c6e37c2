/**
 * The CLI with a fault installed in its file system: what bin/codex-metrics
 * runs, after reading a Fault (JSON) from $CODEX_METRICS_TEST_FAULT. Only
 * tests start it (runCli({ fault })); the production entry point has no such switch.
 */
import { useFileSystem } from '../../lib/store/fs-env.js';
import { faultyFileSystem, FAULT_ENV, FAULT_FIRED, type Fault } from './faulty-fs.js';

const spec = process.env[FAULT_ENV];
if (spec) {
  const fs = faultyFileSystem(JSON.parse(spec) as Fault);
  useFileSystem(fs);
  // So the test can tell a fault that never fired from one the command survived.
  process.on('exit', () => {
    if (fs.fired) process.stderr.write(`${FAULT_FIRED}\n`);
  });
}
const { run } = await import('../../lib/cli/main.js');
await run();
