import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HOLDER = fileURLToPath(new URL('./lock-holder.js', import.meta.url));

/** A real process holding the writer lock until its stdin closes. */
export async function holdInChild(dir: string, lockFile?: string): Promise<{ release: () => Promise<void> }> {
  const child = spawn(process.execPath, [HOLDER, dir, ...(lockFile ? [lockFile] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('held\n')) resolve();
    });
    child.on('error', reject);
    child.on('exit', () => reject(new Error(`holder exited early: ${out}`)));
  });
  return {
    release: async () => {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.stdin.end();
      await exited;
    },
  };
}

