/**
 * One pipeline benchmark run in its own process (so its CPU time and peak memory are its own):
 * consumes `records` records of the benchmark topic with a fresh consumer group through one of the
 * benchmark graphs with the real sinks, and prints one JSON line of figures. With `memory`, the
 * same records are encoded in memory and fed to the graph without Kafka, to separate the agents'
 * cost from the consumer's.
 *
 * The first `warmup` records are not measured: they run while V8 compiles the hot code (a third of
 * the CPU time of a 300,000-record run went to compiling on V8's threads), and a worker runs for
 * days, so the figures are its steady state. The topic must hold warmup + records records.
 *
 *   node dist/bench/pipeline-run.js <a|b|c> <kafka|memory> <broker> <topic> <records> <dataDir> [warmup]
 */
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { encodeRecord } from '../gateway/index.js';
import { AlarmLog } from '../pipeline/alarm-log.js';
import { GraphRuntime, type EdgeBatch } from '../pipeline/engine.js';
import { planGraph } from '../pipeline/graph/graph-store.js';
import { KafkaSource } from '../pipeline/kafka-source.js';
import { MetricsStore } from '../pipeline/metrics-store.js';
import { decodePipelineRecord } from '../pipeline/record.js';
import { createPipelineServices } from '../pipeline/services.js';
import { benchKafka } from './kafka-broker.js';
import { nginxLine } from './nginx-lines.js';
import { BENCH_GRAPHS } from './pipeline-graphs.js';

const [scenario, mode, broker, topic, recordsArg, dataDir, warmupArg] = process.argv.slice(2) as [string, string, string, string, string, string, string | undefined];
const warmup = Number(warmupArg ?? 0);
const total = warmup + Number(recordsArg);
const log = pino({ level: 'warn' }, pino.destination(2));

function peakRssBytes(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

async function main(): Promise<void> {
  const graph = BENCH_GRAPHS[scenario];
  if (!graph) throw new Error(`unknown scenario ${scenario}`);
  const plan = planGraph(graph.definition);
  const services = createPipelineServices({
    dataDir,
    log,
    metrics: await MetricsStore.open({ dir: path.join(dataDir, 'metrics') }),
    alarms: await AlarmLog.open({ dir: path.join(dataDir, 'alarms') }),
  });
  const runtime = await GraphRuntime.create(plan, { version: 1, services, log });
  /** Records handed to the graph, and those of them measured (after the warm-up). */
  let seen = 0;
  let done = 0;
  let bytes = 0;
  let startCpu: NodeJS.CpuUsage | undefined;
  let startWall = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  // Every batch goes through runBatchInParts (runBatch too): count its records as the parts are taken.
  const run = runtime.runBatchInParts.bind(runtime);
  runtime.runBatchInParts = async (parts: Iterable<EdgeBatch[]>, now?: number) => {
    await run(
      (function* () {
        for (const inputs of parts) {
          if (!startCpu && seen >= warmup) {
            startCpu = process.cpuUsage();
            startWall = performance.now();
          }
          for (const i of inputs) {
            seen += i.records.length;
            if (!startCpu) continue;
            done += i.records.length;
            for (const r of i.records) bytes += r.data.length;
          }
          yield inputs;
        }
      })(),
      now,
    );
    if (seen >= total) finish();
  };

  if (mode === 'kafka') {
    const source = new KafkaSource({ kafka: benchKafka(broker, 'logfs-bench-pipeline'), groupId: `bench-${scenario}-${Date.now()}`, topics: [{ topic, stream: 'access', provider: 'bench' }], log });
    await source.start(runtime, (err) => {
      log.error({ err }, 'benchmark source failed');
      process.exit(1);
    });
    await finished;
    const cpu = process.cpuUsage(startCpu);
    const wall = (performance.now() - startWall) / 1000;
    report(cpu, wall);
    await source.stop();
  } else {
    // The same records, encoded as the gateway would, decoded and processed in batches of 4096.
    const encoded = Array.from({ length: total }, (_, n) =>
      encodeRecord({ v: 1, provider: 'bench', stream: 'access', class: null, instance: `i-${n % 8}`, host: 'bench', seq: n + 1, ts: 1_795_000_000_000 + n, source: 'fuse', data: Buffer.from(nginxLine(n)) }),
    );
    for (let i = 0; i < total; i += 4096) {
      const records = encoded.slice(i, i + 4096).map((b) => decodePipelineRecord(b));
      await runtime.runBatch([{ from: 'source', port: 'out', records }]);
    }
    await finished;
    report(process.cpuUsage(startCpu), (performance.now() - startWall) / 1000);
  }
  await runtime.drain();
  await runtime.close();
  await services.close();

  function report(cpu: NodeJS.CpuUsage, wall: number): void {
    const cpuS = (cpu.user + cpu.system) / 1e6;
    process.stdout.write(JSON.stringify({ scenario, mode, records: done, bytes, wallS: wall, cpuS, peakRssBytes: peakRssBytes() }) + '\n');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`pipeline-run: ${String((err as Error).stack ?? err)}\n`);
    process.exit(1);
  },
);
