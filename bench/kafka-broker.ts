/**
 * The Kafka side of the benchmark: a broker from scripts/kafka.sh (started only when none is
 * running, and then stopped again at the end) and the benchmark's own topic, created fresh for the
 * run and deleted afterwards.
 */
import '../gateway/kafkajs-patches.js';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import type { Logger } from '../core/logger.js';

const execFileP = promisify(execFile);

export interface Broker {
  /** host:port of the bootstrap broker. */
  address: string;
  /** The broker JVM's pid, for its CPU time; undefined when the script did not say. */
  pid: number | undefined;
  /** True when this run started it, so the run stops it. */
  startedHere: boolean;
}

async function kafkaScript(root: string, command: 'status' | 'start' | 'stop'): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP('bash', [path.join(root, 'scripts/kafka.sh'), command], { timeout: 300_000 });
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

function pidIn(text: string): number | undefined {
  const m = /\(pid (\d+)\)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Uses the running broker, or starts one (the script is idempotent and prints the address last). */
export async function ensureBroker(root: string, log: Logger): Promise<Broker> {
  const status = await kafkaScript(root, 'status');
  if (status.ok) {
    const address = lastLine(status.stdout);
    log.info({ address }, 'using the Kafka broker that is already running (it is left running)');
    return { address, pid: pidIn(status.stderr), startedHere: false };
  }
  log.info('starting a Kafka broker with scripts/kafka.sh start');
  const started = await kafkaScript(root, 'start');
  if (!started.ok) throw new Error(`scripts/kafka.sh start failed:\n${started.stderr}`);
  const again = await kafkaScript(root, 'status');
  return { address: lastLine(started.stdout), pid: pidIn(again.stderr), startedHere: true };
}

export async function stopBroker(root: string, broker: Broker, log: Logger): Promise<void> {
  if (!broker.startedHere) return;
  log.info('stopping the Kafka broker this run started');
  const r = await kafkaScript(root, 'stop');
  if (!r.ok) log.warn({ stderr: r.stderr }, 'scripts/kafka.sh stop failed');
}

export function benchKafka(address: string, clientId = 'logfs-bench'): Kafka {
  return new Kafka({ clientId, brokers: [address], logLevel: logLevel.ERROR, retry: { retries: 3 } });
}

/**
 * Creates the run's topic the way the gateway would (one partition, its max.message.bytes) but
 * with LogAppendTime: every message then carries the time the broker appended it, which is the
 * closest observable point to the acks=all acknowledgement on a single-replica broker.
 */
export async function createBenchTopic(address: string, topic: string, maxMessageBytes: number): Promise<void> {
  const admin = benchKafka(address).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [
            { name: 'max.message.bytes', value: String(maxMessageBytes) },
            { name: 'message.timestamp.type', value: 'LogAppendTime' },
          ],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopic(address: string, topic: string, log: Logger): Promise<void> {
  const admin = benchKafka(address).admin();
  try {
    await admin.connect();
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
  } catch (err) {
    log.warn({ topic, err: String(err) }, 'could not delete the benchmark topic');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
