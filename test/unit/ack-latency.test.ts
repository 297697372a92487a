import { describe, expect, it } from 'vitest';
import { ACK_SECONDS_BUCKETS, AckLatency } from '../../gateway/ack-latency.js';
import { Histogram } from '../../gateway/metrics.js';

/** An AckLatency on a clock the test moves (ms), with a histogram whose buckets are 1 ms wide. */
function setup(startLsn = 0, capacity = 1024): { lat: AckLatency; h: Histogram; at: (ms: number) => void; byMs: () => Map<number, number> } {
  let now = 0;
  const h = new Histogram('t', Array.from({ length: 1000 }, (_, i) => (i + 1) / 1000));
  const lat = new AckLatency(h, startLsn, capacity, () => now);
  const byMs = (): Map<number, number> => {
    const out = new Map<number, number>();
    let prev = 0;
    for (const [k, v] of h.series()) {
      const le = /le="([^"]+)"/.exec(k)?.[1];
      if (le === undefined) continue;
      if (v > prev) out.set(le === '+Inf' ? Infinity : Math.round(Number(le) * 1000), v - prev);
      prev = v;
    }
    return out;
  };
  return { lat, h, at: (ms) => (now = ms), byMs };
}

describe('AckLatency', () => {
  it('observes each write\'s records with the time from its acceptance to the ack', () => {
    const { lat, h, at, byMs } = setup();
    at(100);
    lat.accepted(3); // records 1..3
    at(105);
    lat.accepted(10); // 4..10
    at(112);
    lat.acked(10);
    expect(byMs()).toEqual(new Map([[12, 3], [7, 7]]));
    expect(h.count).toBe(10);
    expect(lat.pending).toBe(0);
  });

  it('splits a write between two acks, and ignores an ack it already counted', () => {
    const { lat, h, at, byMs } = setup();
    at(0);
    lat.accepted(100);
    at(4);
    lat.acked(40);
    lat.acked(40);
    lat.acked(30);
    at(9);
    lat.acked(100);
    expect(byMs()).toEqual(new Map([[4, 40], [9, 60]]));
    expect(h.count).toBe(100);
  });

  it('keeps one note for the writes of one millisecond, with the first one\'s time', () => {
    const { lat, at, byMs } = setup();
    at(10.2);
    lat.accepted(1);
    at(10.9);
    lat.accepted(2);
    at(11.1);
    lat.accepted(3);
    expect(lat.pending).toBe(2);
    at(12.5);
    lat.acked(3);
    // Records 1 and 2 waited from 10.2 (2.3 ms), record 3 from 11.1 (1.4 ms).
    expect(byMs()).toEqual(new Map([[2, 1], [3, 2]]));
  });

  it('does not observe what the journal held before this run (recovered records)', () => {
    const { lat, h, at, byMs } = setup(500);
    lat.acked(300); // shipping the recovered records
    lat.acked(500);
    expect(h.count).toBe(0);
    at(1);
    lat.accepted(505);
    at(3);
    lat.acked(505);
    expect(byMs()).toEqual(new Map([[2, 5]]));
  });

  it('counts no record twice when an ack covers more than it was told about', () => {
    const { lat, h, at } = setup();
    at(1);
    lat.accepted(5);
    at(2);
    lat.acked(8); // records 6..8 were never noted (they cannot be, but the count must not drift)
    at(3);
    lat.accepted(12);
    at(4);
    lat.acked(12);
    expect(h.count).toBe(5 + 4);
  });

  it('stays within its capacity while acks wait, merging notes without making any wait shorter', () => {
    const { lat, h, at } = setup(0, 8);
    for (let t = 0; t < 100; t++) {
      at(t);
      lat.accepted((t + 1) * 10);
    }
    expect(lat.pending).toBeLessThanOrEqual(8);
    at(200);
    lat.acked(1000);
    expect(h.count).toBe(1000); // every record observed once
    // Each record waited 101..200 ms; merged ones are reported with an earlier acceptance, so longer.
    const series = new Map(h.series());
    expect(series.get('t_bucket{le="0.1"}')).toBe(0);
    const sumMs = (series.get('t_sum') as number) * 1000;
    const exact = Array.from({ length: 100 }, (_, t) => 10 * (200 - t)).reduce((a, b) => a + b, 0);
    expect(sumMs).toBeGreaterThanOrEqual(exact - 1e-6);
  });

  it('has bucket bounds a scraper accepts, ascending, with 50 ms among them', () => {
    expect(() => new Histogram('x', ACK_SECONDS_BUCKETS)).not.toThrow();
    expect(ACK_SECONDS_BUCKETS).toContain(0.05);
  });
});
