/**
 * Preloaded into a child process (node --import) to run it with a clock that
 * is off by TEST_CLOCK_SKEW_MS: the seam through which tests give a writer a
 * wrong clock, with nothing in the library knowing.
 */
const skew = Number(process.env['TEST_CLOCK_SKEW_MS'] ?? 0);
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);

class SkewedDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(realNow() + skew);
    else super(...(args as [string | number]));
  }

  static override now(): number {
    return realNow() + skew;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
