/**
 * Latency at a fixed rate: a paced writer puts lines carrying their own send time into the mount,
 * and three observers time them:
 *   - logfsd's `logfs_kafka_ack_seconds` histogram, read before and after: accepted by the gateway
 *     (the write() is answered then) → acknowledged by Kafka, for every line, measured in logfsd;
 *     the write() itself (timed by the writer) is the rest of write() → ack;
 *   - a kafkajs consumer (fresh group, latest offsets, started before the writer) that decodes each
 *     record: write() → consumed from Kafka, an upper bound of write() → ack that also holds the
 *     consumer's own fetch delays on this busy host;
 *   - the broker's LogAppendTime on each message (the run's topic is created with it): write() →
 *     appended by the leader, which on one replica is when acks=all is satisfied; ms resolution.
 */
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decodeRecord } from '../gateway/index.js';
import type { Logger } from '../core/logger.js';
import { runPacedWriter, type PacedWriterResult, type Writers } from './c-writers.js';
import { benchKafka } from './kafka-broker.js';
import type { LogfsdProcess } from './logfsd-process.js';
import { percentile } from './markdown-table.js';
import { histogramBuckets, histogramQuantile } from '../gateway/metrics.js';

export interface LatencyOptions {
  broker: string;
  topic: string;
  logfsd: LogfsdProcess;
  writers: Writers;
  rate: number;
  seconds: number;
  lineBytes: number;
  log: Logger;
}

export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface LatencyResult {
  writer: PacedWriterResult;
  linesWritten: number;
  /** Achieved rate of the write loop, lines/s. */
  achievedRate: number;
  /** ms, each distribution over the lines its observer saw. */
  writeToConsumed: Distribution;
  dueToConsumed: Distribution;
  writeToAppended: Distribution;
  /** From logfsd's histogram (ms): interpolated quantiles, and the bucket bound the slowest is under. */
  acceptToAck: { count: number; p50: number; p99: number; maxAtMost: number };
  writeSyscall: { p50: number; p99: number; max: number };
}

/** CLOCK_REALTIME in ms with sub-ms resolution (performance.now is monotonic, timeOrigin is wall). */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function distribution(values: number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? (sorted[sorted.length - 1] as number) : NaN };
}

export async function measureLatency(o: LatencyOptions): Promise<LatencyResult> {
  const lines = Math.round(o.rate * o.seconds);
  const sent = new Float64Array(lines).fill(NaN);
  const due = new Float64Array(lines).fill(NaN);
  const consumed = new Float64Array(lines).fill(NaN);
  const appended = new Float64Array(lines).fill(NaN);
  let received = 0;

  const consumer = benchKafka(o.broker, 'logfs-bench-latency').consumer({
    groupId: `logfs-bench-${crypto.randomBytes(6).toString('hex')}`,
    maxWaitTimeInMs: 20,
    minBytes: 1,
  });
  let firstFetch: () => void = () => undefined;
  const fetched = new Promise<void>((resolve) => (firstFetch = resolve));
  consumer.on(consumer.events.FETCH, () => firstFetch());
  // A crashed consumer stops fetching: say so, or the run only reports lines that never arrived.
  consumer.on(consumer.events.CRASH, (e) => o.log.error({ err: String(e.payload.error), restart: e.payload.restart }, 'latency consumer crashed'));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: o.topic, fromBeginning: false });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const now = wallMs();
        for (const m of batch.messages) {
          if (!m.value) continue;
          const text = decodeRecord(m.value).data.toString('latin1');
          const [seqText, dueText, sentText] = text.split(' ', 3);
          const seq = Number(seqText);
          if (!Number.isInteger(seq) || seq < 0 || seq >= lines || !Number.isNaN(consumed[seq] as number)) continue;
          consumed[seq] = now;
          due[seq] = Number(dueText) / 1e6;
          sent[seq] = Number(sentText) / 1e6;
          appended[seq] = Number(m.timestamp);
          received += 1;
        }
      },
    });
    await withTimeout(fetched, 30_000, 'the latency consumer did not start fetching');
    const before = await o.logfsd.metrics();
    const lastLsn = (before.logfs_journal_next_lsn as number) + lines - 1;

    const writer = await runPacedWriter(o.writers, o.logfsd.streamPath('latency'), o.rate, o.seconds, o.lineBytes);
    const deadline = Date.now() + 60_000;
    while (received < lines && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (received < lines) o.log.warn({ received, lines }, 'latency consumer did not see every line');
    let after = await o.logfsd.metrics();
    while ((after.logfs_kafka_acked_lsn as number) < lastLsn && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      after = await o.logfsd.metrics();
    }

    const w2c: number[] = [];
    const d2c: number[] = [];
    const w2a: number[] = [];
    for (let i = 0; i < lines; i++) {
      const s = sent[i] as number;
      if (Number.isNaN(s)) continue;
      w2c.push((consumed[i] as number) - s);
      d2c.push((consumed[i] as number) - (due[i] as number));
      w2a.push((appended[i] as number) - s);
    }
    return {
      writer,
      linesWritten: writer.lines,
      achievedRate: writer.lines / ((writer.loopEndNs - writer.startNs) / 1e9),
      writeToConsumed: distribution(w2c),
      dueToConsumed: distribution(d2c),
      writeToAppended: distribution(w2a),
      acceptToAck: ackHistogram(before, after),
      writeSyscall: { p50: writer.writeP50Ns / 1e6, p99: writer.writeP99Ns / 1e6, max: writer.writeMaxNs / 1e6 },
    };
  } finally {
    // kafkajs' disconnect can wait forever on a consumer that crashed while joining its group; the
    // figures are in hand by then, so give up on it rather than hang the benchmark.
    await withTimeout(consumer.disconnect(), 30_000, 'the latency consumer did not disconnect').catch((err: unknown) => o.log.warn({ err: String(err) }, 'latency consumer'));
  }
}

/** The run's part of logfsd's logfs_kafka_ack_seconds histogram (two scrapes), in ms. */
function ackHistogram(before: Record<string, number>, after: Record<string, number>): LatencyResult['acceptToAck'] {
  const buckets = histogramBuckets(after, 'logfs_kafka_ack_seconds', before).map(([le, n]): [number, number] => [le * 1000, n]);
  const count = buckets.length ? (buckets[buckets.length - 1] as [number, number])[1] : 0;
  const p50 = histogramQuantile(0.5, buckets);
  const p99 = histogramQuantile(0.99, buckets);
  const max = histogramQuantile(1, buckets);
  return { count, p50: p50?.value ?? NaN, p99: p99?.value ?? NaN, maxAtMost: max?.atMost ?? NaN };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
