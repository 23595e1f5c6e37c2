import { Recorder } from '../store/store.js';
import { plural, sealedLine, type Command } from './command.js';

export const rotateCommand: Command = {
  args: '',
  maxPositionals: 0,
  options: {},
  async run(ctx) {
    const recorder = await Recorder.open({ config: ctx.config, log: ctx.log });
    const { sealed, merged } = await recorder.rotate();
    await recorder.close();
    ctx.print(
      [...(merged ? [`merged ${plural(merged, 'pending entry', 'pending entries')}`] : []), sealed ? sealedLine(sealed) : 'nothing to seal: the active file is empty'].join('\n'),
      { sealed: sealed ?? null },
    );
  },
};
