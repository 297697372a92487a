/**
 * Kafka alone, from an independent C client: how many of the gateway's records per second kcat
 * (librdkafka) produces into the local broker with acks=all and idempotence, and what that costs
 * the broker. No FUSE, no journal, no JavaScript: the records are encoded beforehand exactly as
 * the benchmark's logfsd encodes them (a 99-byte line of workload d each, key = instance), read by
 * kcat from a file. It bounds what the whole write path can reach into this broker on this host.
 */
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { encodeRecord } from '../gateway/index.js';
import { benchKafka } from './kafka-broker.js';
import { BENCH_INSTANCE, BENCH_STREAM } from './logfsd-process.js';
import { cpuSeconds } from './proc-stats.js';

const run = promisify(execFile);

/** Between key and value, and between messages: byte strings no record contains (checked). */
const KEY_DELIMITER = '\u0001KEY\u0001';
const MESSAGE_DELIMITER = '\u0002MSG\u0002';

export type KcatCompression = 'none' | 'lz4';

export interface KcatCeilingResult {
  compression: KcatCompression;
  records: number;
  /** Bytes of the records' values (what the broker stores per message, before compression). */
  valueBytes: number;
  seconds: number;
  /** kcat's user + system CPU seconds. */
  clientCpuS: number;
  brokerCpuS: number | undefined;
}

/** The line-writer's line n (bench/writers/line-writer.c), without its newline. */
function line(n: number): Buffer {
  const b = Buffer.alloc(99);
  const head = `line ${String(n).padStart(12, '0')} `;
  b.write(head, 0, 'latin1');
  for (let i = head.length; i < 99; i++) b[i] = 0x61 + (i % 26);
  return b;
}

/** Writes `records` key/value messages for kcat -K -D to `file`; returns the values' bytes. */
async function writeMessages(file: string, records: number): Promise<number> {
  const handle = await fsp.open(file, 'w');
  const key = Buffer.from(BENCH_INSTANCE);
  const kd = Buffer.from(KEY_DELIMITER, 'latin1');
  const md = Buffer.from(MESSAGE_DELIMITER, 'latin1');
  const host = os.hostname();
  const ts = Date.now();
  let valueBytes = 0;
  try {
    for (let from = 0; from < records; from += 10_000) {
      const parts: Buffer[] = [];
      for (let n = from; n < Math.min(records, from + 10_000); n++) {
        const value = encodeRecord({ v: 1, provider: 'default', stream: BENCH_STREAM, class: 'w1', instance: BENCH_INSTANCE, host, seq: n + 1, ts, source: 'fuse', data: line(n) });
        if (value.includes(kd) || value.includes(md)) throw new Error(`record ${n} contains a kcat delimiter`);
        parts.push(key, kd, value, md);
        valueBytes += value.length;
      }
      await handle.write(Buffer.concat(parts));
    }
  } finally {
    await handle.close();
  }
  return valueBytes;
}

async function endOffset(broker: string, topic: string): Promise<number> {
  const admin = benchKafka(broker).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, o) => n + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Produces `records` records with kcat into `topic` (which must exist and be empty), once per
 * compression. Throws when kcat is missing, fails, or the topic did not get every record.
 */
export async function kcatCeiling(broker: string, brokerPid: number | undefined, topic: string, records: number, compressions: KcatCompression[], dir: string): Promise<KcatCeilingResult[]> {
  const file = path.join(dir, 'kcat-messages.bin');
  const valueBytes = await writeMessages(file, records);
  const out: KcatCeilingResult[] = [];
  try {
    let expected = await endOffset(broker, topic);
    for (const compression of compressions) {
      const args = [
        '-P', '-b', broker, '-t', topic, '-K', KEY_DELIMITER, '-D', MESSAGE_DELIMITER, '-l',
        '-X', 'acks=all', '-X', 'enable.idempotence=true', '-X', `compression.codec=${compression}`,
        '-X', 'linger.ms=5', '-X', 'batch.size=4000000', '-X', 'message.max.bytes=8000000',
        '-X', `queue.buffering.max.messages=${records}`, '-X', 'queue.buffering.max.kbytes=2000000',
        file,
      ];
      // bash's `times` gives kcat's CPU (its children's user and system time).
      const script = 'kcat "$@" || exit $?; times';
      const broker0 = brokerPid !== undefined ? await cpuSeconds(brokerPid).catch(() => undefined) : undefined;
      const t0 = performance.now();
      const { stdout, stderr } = await run('bash', ['-c', script, 'kcat', ...args], { maxBuffer: 64 * 1024 * 1024 });
      const seconds = (performance.now() - t0) / 1000;
      const broker1 = brokerPid !== undefined ? await cpuSeconds(brokerPid).catch(() => undefined) : undefined;
      if (/fail|error/i.test(stderr)) throw new Error(`kcat (${compression}): ${stderr.split('\n').slice(0, 3).join(' | ')}`);
      const children = stdout.trim().split('\n').pop()?.match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
      if (!children) throw new Error(`kcat (${compression}): no CPU times in ${JSON.stringify(stdout)}`);
      const clientCpuS = Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4]);
      expected += records;
      const got = await endOffset(broker, topic);
      if (got !== expected) throw new Error(`kcat (${compression}): the topic holds ${got} records, expected ${expected}`);
      out.push({ compression, records, valueBytes, seconds, clientCpuS, brokerCpuS: broker0 !== undefined && broker1 !== undefined ? broker1 - broker0 : undefined });
    }
  } finally {
    await fsp.rm(file, { force: true });
  }
  return out;
}
