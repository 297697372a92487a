/**
 * Per-second rates from cumulative counters sampled now and then (the fleet's agent counters):
 * the change over the last `windowMs`. A counter that goes down (a new graph version, a restarted
 * worker) starts over.
 */
export const RATE_METER_DEFAULTS = { windowMs: 30_000, minSpanMs: 1_000, maxKeys: 10_000 } as const;

export class RateMeter {
  private readonly samples = new Map<string, { t: number; v: number }[]>();

  constructor(private readonly windowMs: number = RATE_METER_DEFAULTS.windowMs) {}

  /** Records `value` for `key` at `now` and returns the rate per second over the window (0 until known). */
  rate(key: string, value: number, now = Date.now()): number {
    let list = this.samples.get(key);
    if (!list) {
      if (this.samples.size >= RATE_METER_DEFAULTS.maxKeys) this.samples.delete(this.samples.keys().next().value as string);
      this.samples.set(key, (list = []));
    }
    const last = list[list.length - 1];
    if (last && value < last.v) list.length = 0;
    if (!last || now - last.t >= 250 || value < last.v) list.push({ t: now, v: value });
    while (list.length > 2 && now - list[1]!.t > this.windowMs) list.shift();
    const first = list[0]!;
    const span = now - first.t;
    return span >= RATE_METER_DEFAULTS.minSpanMs ? ((value - first.v) * 1000) / span : 0;
  }
}
