import type { CliIO } from './command.js';

/**
 * Data for stdout in pieces of up to 64 KiB rather than a write per line.
 * A reader that went away (`query | head`) closes the pipe: `closed` turns
 * true and the command stops reading instead of failing with EPIPE.
 */
export interface DataOut {
  write(text: string): void;
  flush(): void;
  readonly closed: boolean;
}

const PIECE = 64 << 10;

export function dataOut(io: CliIO): DataOut {
  let buffered = '';
  let closed = false;
  io.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    closed = true;
  });
  const flush = () => {
    if (buffered === '' || closed) return;
    io.stdout.write(buffered);
    buffered = '';
  };
  return {
    write(text) {
      buffered += text;
      if (buffered.length >= PIECE) flush();
    },
    flush,
    get closed() {
      return closed;
    },
  };
}

/** Terminal width for tables: the terminal's, else $COLUMNS, else 120. */
export function terminalWidth(io: CliIO): number {
  const cols = (io.stdout as { columns?: number }).columns;
  if (cols && cols > 0) return cols;
  const env = Number(io.env['COLUMNS']);
  return Number.isSafeInteger(env) && env > 0 ? env : 120;
}
