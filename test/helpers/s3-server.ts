import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client } from '../../lib/archive/s3-client.js';
import { outputOf, type CliResult } from './cli.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/s3-server.sh', import.meta.url));

export interface S3Server {
  /** What a child process needs to reach it: endpoint and AWS_* credentials. */
  env: Record<string, string>;
  endpoint: string;
  client: S3Client;
}

function run(args: string[]): Promise<CliResult> {
  return outputOf(spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

interface Started {
  dir: string;
  server?: S3Server;
  reason?: string;
}

let shared: Promise<Started> | undefined;

async function start(): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'codex-metrics-s3-'));
  const began = Date.now();
  const r = await run(['start', dir]);
  if (r.code !== 0) {
    // The script's own reason (a missing package, a timeout), not its progress or retry lines.
    const last = r.stderr.split('\n').filter((l) => /^s3-server: (?!\d+ms |attempt \d)/.test(l)).at(-1);
    return { dir, reason: `the S3 test server (Ceph RADOS Gateway) could not be started: ${last ?? `exit ${r.code}`}` };
  }
  const env = Object.fromEntries(
    r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
  ) as Record<string, string>;
  const endpoint = env['CODEX_METRICS_S3_ENDPOINT']!;
  if (process.env['S3_SERVER_TIMING']) console.log(`      (S3 server up in ${Date.now() - began} ms)`);
  return {
    dir,
    server: {
      env: {
        CODEX_METRICS_S3_ENDPOINT: endpoint,
        AWS_ACCESS_KEY_ID: env['AWS_ACCESS_KEY_ID']!,
        AWS_SECRET_ACCESS_KEY: env['AWS_SECRET_ACCESS_KEY']!,
        AWS_REGION: env['AWS_REGION']!,
      },
      endpoint,
      client: new S3Client({
        endpoint,
        region: env['AWS_REGION']!,
        credentials: { accessKeyId: env['AWS_ACCESS_KEY_ID']!, secretAccessKey: env['AWS_SECRET_ACCESS_KEY']! },
      }),
    },
  };
}

// One server for the whole mocha run, started by the first suite that asks,
// stopped when the run ends (a root hook: this module is loaded with the tests).
after(async function () {
  this.timeout(30_000);
  if (shared) await run(['stop', (await shared).dir]);
});

/**
 * A real S3 server (Ceph RADOS Gateway, scripts/s3-server.sh) for a describe
 * block. When it cannot be started, every test of the block is skipped with
 * the reason printed, never passed. `box.server` is set once it is up; each
 * suite uses its own bucket.
 */
export function useS3Server(): { server: S3Server | undefined } {
  const box: { server: S3Server | undefined } = { server: undefined };
  let reason: string | undefined;
  before(async function () {
    this.timeout(150_000);
    const s = await (shared ??= start());
    box.server = s.server;
    reason = s.reason;
  });
  beforeEach(function () {
    if (!box.server) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
  });
  return box;
}
