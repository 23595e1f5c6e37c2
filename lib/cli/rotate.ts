import { Recorder } from '../store/recorder.js';
import type { Command } from './command.js';

export const rotateCommand: Command = {
  name: 'rotate',
  summary: 'seal the active file now (an empty active file is left alone)',
  args: '',
  maxPositionals: 0,
  options: {},
  async run(ctx) {
    const recorder = await Recorder.open({ config: ctx.config, log: ctx.log });
    const { sealed } = await recorder.rotate();
    await recorder.close();
    ctx.print(
      sealed ? `sealed ${sealed.file} (${sealed.lines} lines, ${sealed.bytes} bytes)` : 'nothing to seal: the active file is empty',
      { sealed: sealed ?? null },
    );
  },
};
