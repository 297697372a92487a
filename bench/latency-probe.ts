/**
 * Latency at a fixed rate: a paced writer puts lines carrying their own send time into the mount,
 * and three observers time them:
 *   - a kafkajs consumer (fresh group, latest offsets, started before the writer) that decodes each
 *     record: write() → consumed from Kafka, an upper bound of write() → ack;
 *   - the broker's LogAppendTime on each message (the run's topic is created with it): write() →
 *     appended by the leader, which on one replica is when acks=all is satisfied; ms resolution;
 *   - logfsd's `logfs_kafka_acked_lsn` gauge polled every few ms: write() → the gateway saw the
 *     ack, late by at most one poll period plus the scrape.
 */
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decodeRecord } from '../gateway/index.js';
import type { Logger } from '../core/logger.js';
import { runPacedWriter, type PacedWriterResult, type Writers } from './c-writers.js';
import { benchKafka } from './kafka-broker.js';
import type { LogfsdProcess } from './logfsd-process.js';
import { percentile } from './markdown-table.js';

export interface LatencyOptions {
  broker: string;
  topic: string;
  logfsd: LogfsdProcess;
  writers: Writers;
  rate: number;
  seconds: number;
  lineBytes: number;
  /** Period of the acked-LSN poll. */
  pollMs: number;
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
  writeToAckSeen: Distribution;
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
  await consumer.connect();
  const ackSamples: { t: number; lsn: number }[] = [];
  let polling = false;
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
    const firstLsn = before.logfs_journal_next_lsn as number;

    polling = true;
    const poller = (async () => {
      while (polling) {
        const t0 = wallMs();
        try {
          const m = await o.logfsd.metrics();
          ackSamples.push({ t: wallMs(), lsn: m.logfs_kafka_acked_lsn as number });
        } catch {
          // a slow scrape is a missing sample, not a failure
        }
        const wait = o.pollMs - (wallMs() - t0);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();

    const writer = await runPacedWriter(o.writers, o.logfsd.streamPath('latency'), o.rate, o.seconds, o.lineBytes);
    const deadline = Date.now() + 60_000;
    while (received < lines && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    polling = false;
    await poller;
    if (received < lines) o.log.warn({ received, lines }, 'latency consumer did not see every line');

    const ackTime = (lsn: number): number => {
      let lo = 0;
      let hi = ackSamples.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((ackSamples[mid] as { lsn: number }).lsn >= lsn) hi = mid;
        else lo = mid + 1;
      }
      return lo < ackSamples.length ? (ackSamples[lo] as { t: number }).t : NaN;
    };
    const w2c: number[] = [];
    const d2c: number[] = [];
    const w2a: number[] = [];
    const w2k: number[] = [];
    for (let i = 0; i < lines; i++) {
      const s = sent[i] as number;
      if (Number.isNaN(s)) continue;
      w2c.push((consumed[i] as number) - s);
      d2c.push((consumed[i] as number) - (due[i] as number));
      w2a.push((appended[i] as number) - s);
      const k = ackTime(firstLsn + i);
      if (!Number.isNaN(k)) w2k.push(k - s);
    }
    return {
      writer,
      linesWritten: writer.lines,
      achievedRate: writer.lines / ((writer.loopEndNs - writer.startNs) / 1e9),
      writeToConsumed: distribution(w2c),
      dueToConsumed: distribution(d2c),
      writeToAppended: distribution(w2a),
      writeToAckSeen: distribution(w2k),
      writeSyscall: { p50: writer.writeP50Ns / 1e6, p99: writer.writeP99Ns / 1e6, max: writer.writeMaxNs / 1e6 },
    };
  } finally {
    polling = false;
    await consumer.disconnect().catch(() => undefined);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
