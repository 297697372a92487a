/**
 * How long records wait from the gateway accepting them (the write() that carried them is
 * answered then) to Kafka acknowledging them: the `logfs_kafka_ack_seconds` histogram.
 *
 * Every accepted write notes the journal position of its last record and the time; an ack up to a
 * position observes each noted group it covers, weighted by its records. Writes in the same
 * millisecond share one note (and its first write's time), so a second of load costs at most a
 * thousand of them. While Kafka is away the notes pile up: past `capacity` neighbours are merged,
 * the merged group keeping the earlier time, so that memory stays bounded and a wait is never
 * reported shorter than it was.
 * Records recovered from the journal at a start were accepted by an earlier run and are not
 * observed.
 */
import type { Histogram } from './metrics.js';

/** Bucket bounds in seconds: fine from 1 ms to 100 ms, where a latency target lives. */
export const ACK_SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 300,
];

export class AckLatency {
  /** Ring of notes: last LSN of the group and when it was accepted (ms, performance.now()). */
  private lsns: Float64Array;
  private times: Float64Array;
  private head = 0;
  private size = 0;
  /** Groups start where the previous one ended; the first after what the journal held at the start. */
  private observedThrough: number;

  constructor(
    private readonly histogram: Histogram,
    /** The journal's last LSN when this run began accepting: what it recovered is not observed. */
    startLsn: number,
    private readonly capacity = 65_536,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (capacity < 2) throw new RangeError('AckLatency capacity must be at least 2');
    this.lsns = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.observedThrough = startLsn;
  }

  /** Records up to `lastLsn` were accepted now. */
  accepted(lastLsn: number): void {
    const t = this.now();
    if (this.size > 0) {
      const tail = (this.head + this.size - 1) % this.capacity;
      if (Math.floor(this.times[tail] as number) === Math.floor(t)) {
        this.lsns[tail] = lastLsn;
        return;
      }
      if (this.size === this.capacity) this.halve();
    }
    const at = (this.head + this.size) % this.capacity;
    this.lsns[at] = lastLsn;
    this.times[at] = t;
    this.size += 1;
  }

  /** Kafka acknowledged every record up to `lsn`. */
  acked(lsn: number): void {
    if (lsn <= this.observedThrough) return;
    const now = this.now();
    while (this.size > 0) {
      const last = this.lsns[this.head] as number;
      const upTo = Math.min(last, lsn);
      if (upTo > this.observedThrough) this.histogram.observe(Math.max(0, now - (this.times[this.head] as number)) / 1000, upTo - this.observedThrough);
      this.observedThrough = Math.max(this.observedThrough, upTo);
      if (last > lsn) return;
      this.head = (this.head + 1) % this.capacity;
      this.size -= 1;
    }
    // Acknowledged beyond every note: records this run did not accept (recovered at the start).
    this.observedThrough = lsn;
  }

  /** Notes waiting for their ack (for tests). */
  get pending(): number {
    return this.size;
  }

  /** Merges neighbouring notes pairwise; each pair keeps its later LSN and its earlier time. */
  private halve(): void {
    const n = this.size;
    const lsns = new Float64Array(this.capacity);
    const times = new Float64Array(this.capacity);
    let k = 0;
    for (let i = 0; i < n; i += 2) {
      const a = (this.head + i) % this.capacity;
      const b = i + 1 < n ? (this.head + i + 1) % this.capacity : a;
      lsns[k] = this.lsns[b] as number;
      times[k] = this.times[a] as number;
      k += 1;
    }
    this.lsns = lsns;
    this.times = times;
    this.head = 0;
    this.size = k;
  }
}
