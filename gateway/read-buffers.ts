/**
 * The Kafka producer thread's read buffers (kafka-producer-worker.ts), reused: a batch's buffer is
 * free again once nothing reads it (with the wire client, once the batch is encoded; with kafkajs,
 * once Kafka answered it). A new one per batch left megabytes of garbage per batch, which
 * V8 collects only every 64 MB or so; so did one sized exactly to each read, as the next read, a few
 * bytes longer, did not fit it (under the write-path benchmark that was 20–30 MB of logfsd's peak
 * resident memory). So buffers come in whole MiB, and a few are kept.
 */
export const READ_BUFFER_GRAIN = 1024 * 1024;

export class ReadBufferPool {
  private readonly free: Buffer[] = [];

  /** `kept`: how many free buffers are kept (with kafkajs, one being produced, one read ahead, a spare). */
  constructor(private readonly kept = 3) {}

  /** A kept buffer of at least `bytes` (kept ones too small for it are dropped), else a new one. */
  take(bytes: number): Buffer {
    const free = this.free;
    for (let i = free.length - 1; i >= 0; i--) {
      const b = free[i]!;
      if (b.length >= bytes) {
        free.splice(i, 1);
        return b;
      }
    }
    free.length = 0;
    // Small reads (a few lines) take no whole MiB of their own, and are not kept.
    if (bytes < READ_BUFFER_GRAIN / 4) return Buffer.allocUnsafe(bytes);
    return Buffer.allocUnsafeSlow(Math.ceil(bytes / READ_BUFFER_GRAIN) * READ_BUFFER_GRAIN);
  }

  /** Gives back a buffer that take() returned and that nothing uses any more. */
  keep(b: Buffer): void {
    if (this.free.length >= this.kept || this.free.includes(b)) return;
    if (b.byteOffset === 0 && b.length >= READ_BUFFER_GRAIN && b.length % READ_BUFFER_GRAIN === 0) this.free.push(b);
  }

  /** Buffers kept (tests). */
  get size(): number {
    return this.free.length;
  }
}

/**
 * Where each entry of a read run lies (readSegmentRun's starts and lengths) and its topic and key
 * (prepareEntries' group), for as long as the run's buffer is read: reused with it. New arrays per
 * batch (three of 160 KB for 40,000 records) were garbage that the producer thread's heap, which
 * allocates little else, collected only when its external memory had grown by tens of MB. Alone
 * this made no difference to logfsd's peak resident memory that four runs could tell from the
 * noise; with the heap trim (gateway.ts, TRIM_HEAP_MS) it went from 174–194 MB to 149–188 MB over
 * the write-path benchmark's Kafka workloads (docs/kafka.md).
 */
export interface RunPlaces {
  starts: Int32Array;
  lengths: Int32Array;
  group: Int32Array;
}

export class RunPlacesPool {
  private readonly free: RunPlaces[] = [];

  /** `entries`: the size new arrays get at least (a batch's most records); `kept` as for ReadBufferPool. */
  constructor(
    private readonly entries: number,
    private readonly kept = 3,
  ) {}

  /** Arrays for at least `n` entries: kept ones when they are long enough, else new ones. */
  take(n: number): RunPlaces {
    const free = this.free;
    for (let i = free.length - 1; i >= 0; i--) {
      if (free[i]!.starts.length >= n) return free.splice(i, 1)[0]!;
    }
    const size = Math.max(n, this.entries);
    return { starts: new Int32Array(size), lengths: new Int32Array(size), group: new Int32Array(size) };
  }

  /** Gives back what take() returned once nothing uses it any more. */
  keep(p: RunPlaces): void {
    if (this.free.length < this.kept && !this.free.includes(p)) this.free.push(p);
  }

  /** Sets kept (tests). */
  get size(): number {
    return this.free.length;
  }
}
