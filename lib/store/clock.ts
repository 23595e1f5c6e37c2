/**
 * Where the store learns the time: rotation by interval and time of day, the
 * sealing time in a segment's name, retention's age limit. Tests pass their
 * own through the `clock` store option; nothing else reads Date.now() for these.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
