/**
 * Pipeline benchmark (issue 3): records per second per core and peak memory for three graphs
 * consuming realistic nginx access-log lines (150–250 bytes) from Kafka, each in its own process
 * with a fresh consumer group and the real sinks (archive on disk, metric store). A second set of
 * rows feeds the same records from memory, to show what the agents cost without the consumer.
 * Each run first takes `--warmup` records unmeasured, while V8 compiles the hot code: the figures
 * are a worker's steady state (pipeline-run.ts). Runs use the V8 flags of `logfsctl pipeline run`
 * (cli/node-flags.ts).
 *
 *   npm run bench:pipeline [-- --records 300000 --warmup 100000 --runs 3]
 *
 * Uses the broker of scripts/kafka.sh (started if none runs, and then stopped again).
 */
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { LOGFSCTL_NODE_FLAGS } from '../cli/node-flags.js';
import { encodeRecord } from '../gateway/index.js';
import { benchKafka, deleteTopic, ensureBroker, stopBroker } from './kafka-broker.js';
import { markdownTable } from './markdown-table.js';
import { nginxLine } from './nginx-lines.js';
import { BENCH_GRAPHS } from './pipeline-graphs.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const log = pino({ level: 'info' }, pino.destination(2));

interface RunResult {
  scenario: string;
  mode: string;
  records: number;
  bytes: number;
  wallS: number;
  cpuS: number;
  peakRssBytes: number;
}

const TARGETS: Record<string, string> = { a: '≥ 150,000 rec/s', b: '≥ 20 MiB/s', c: '≥ 50,000 rec/s' };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function fillTopic(address: string, topic: string, records: number): Promise<number> {
  const kafka = benchKafka(address);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let bytes = 0;
  const chunk = 5000;
  for (let i = 0; i < records; i += chunk) {
    const messages = [];
    for (let n = i; n < Math.min(records, i + chunk); n++) {
      const data = Buffer.from(nginxLine(n));
      bytes += data.length;
      const instance = `i-${n % 8}`;
      messages.push({ key: instance, value: encodeRecord({ v: 1, provider: 'bench', stream: 'access', class: null, instance, host: 'bench', seq: n + 1, ts: 1_795_000_000_000 + n, source: 'fuse', data }) });
    }
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();
  return bytes;
}

async function runOne(scenario: string, mode: string, address: string, topic: string, records: number, warmup: number): Promise<RunResult> {
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-bench-pipeline-'));
  try {
    // With the flags `logfsctl pipeline run` runs with (its bin script's first line).
    const { stdout } = await execFileP(process.execPath, [...LOGFSCTL_NODE_FLAGS, path.join(ROOT, 'dist/bench/pipeline-run.js'), scenario, mode, address, topic, String(records), dataDir, String(warmup)], { maxBuffer: 16 * 1024 * 1024, timeout: 900_000 });
    return JSON.parse(stdout.trim().split('\n').pop()!) as RunResult;
  } finally {
    await fsp.rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const records = arg('records', 300_000);
  const warmup = arg('warmup', 100_000);
  const runs = arg('runs', 3);
  const broker = await ensureBroker(ROOT, log);
  const topic = `bench.pipeline.${Date.now()}`;
  try {
    log.info({ records, warmup, topic }, 'filling the benchmark topic');
    const bytes = await fillTopic(broker.address, topic, warmup + records);
    log.info({ avgLineBytes: +(bytes / (warmup + records)).toFixed(1) }, 'topic filled');
    const rows: (string | number)[][] = [];
    for (const mode of ['kafka', 'memory']) {
      for (const scenario of Object.keys(BENCH_GRAPHS)) {
        // Kafka rows: the median of `runs` runs (this machine's CPU time per record varies by
        // about ±10% from run to run), with the lowest and highest beside it.
        const n = mode === 'kafka' ? runs : 1;
        const results: RunResult[] = [];
        for (let k = 0; k < n; k++) {
          log.info({ scenario, mode, run: k + 1, of: n }, 'running');
          results.push(await runOne(scenario, mode, broker.address, topic, records, warmup));
        }
        const perCore = (r: RunResult): number => r.records / r.cpuS;
        results.sort((x, y) => perCore(x) - perCore(y));
        const r = results[Math.floor((results.length - 1) / 2)]!;
        const mibPerCore = (x: RunResult): number => x.bytes / 1024 / 1024 / x.cpuS;
        const range = results.length > 1 ? `${mibPerCore(results[0]!).toFixed(1)}–${mibPerCore(results[results.length - 1]!).toFixed(1)}` : '—';
        rows.push([
          BENCH_GRAPHS[scenario]!.label,
          mode === 'kafka' ? 'Kafka' : 'memory',
          r.records,
          Math.round(r.records / r.wallS),
          Math.round(perCore(r)),
          +mibPerCore(r).toFixed(1),
          range,
          Math.round(Math.max(...results.map((x) => x.peakRssBytes)) / 1024 / 1024),
          mode === 'kafka' ? TARGETS[scenario]! : '—',
        ]);
      }
    }
    process.stdout.write(
      `\nPipeline benchmark: ${records.toLocaleString('en-US')} nginx lines (avg ${(bytes / (warmup + records)).toFixed(0)} B) measured after ${warmup.toLocaleString('en-US')} unmeasured, ` +
        `${os.cpus().length} cores, Node ${process.version}; Kafka rows: median of ${runs} runs (by records per core), MiB/s range over the runs\n\n`,
    );
    process.stdout.write(markdownTable(['graph', 'source', 'records', 'rec/s (wall)', 'rec/s per core', 'MiB/s per core', 'MiB/s range', 'peak RSS MB', 'target per core'], rows) + '\n');
  } finally {
    await deleteTopic(broker.address, topic, log);
    await stopBroker(ROOT, broker, log);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
