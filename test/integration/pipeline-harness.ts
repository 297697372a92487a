/**
 * Pipeline workers as real child processes (`logfsctl pipeline run`), graphs applied through the
 * CLI, and the archive read back through its query API — what an operator would do.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { readArchive } from '../../pipeline/archive/archive-query.js';
import type { ArchivedRecord } from '../../pipeline/archive/archive-line.js';
import { KAFKA, kafkaClient, logfsctl, ManagedChild, randomName, ROOT, waitFor } from './harness.js';

export class WorkerProcess extends ManagedChild {
  constructor(
    readonly dataDir: string,
    readonly name = 'w1',
    readonly extraArgs: string[] = [],
  ) {
    super(path.join(dataDir, `worker-${name}.log`));
  }

  static async start(dataDir: string, name = 'w1', extraArgs: string[] = []): Promise<WorkerProcess> {
    const w = new WorkerProcess(dataDir, name, extraArgs);
    await w.launch();
    return w;
  }

  async launch(): Promise<void> {
    const child = this.spawnNode([path.join(ROOT, 'bin/logfsctl.js'), 'pipeline', 'run', '--data', this.dataDir, '--kafka', KAFKA, '--log-level', 'debug', ...this.extraArgs]);
    await waitFor(`worker ${this.name} to start`, async () => {
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}: ${await this.logTail()}`);
      return (await this.logTail(200)).includes('pipeline worker started');
    });
  }
}

/**
 * Applies a graph with the CLI (through the control API): it returns once the change is active,
 * i.e. every live daemon and worker of the data dir applied it.
 */
export async function applyGraph(dataDir: string, graph: Record<string, unknown>): Promise<string> {
  const file = path.join(dataDir, `graph-${String(graph.name)}-${Date.now()}.yaml`);
  await fsp.writeFile(file, YAML.stringify(graph));
  const r = await logfsctl(['graph', 'apply', file, '--data', dataDir]);
  if (r.code !== 0) throw new Error(`graph apply failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function archived(dataDir: string, name = 'default', filter: Parameters<typeof readArchive>[1] = {}): Promise<ArchivedRecord[]> {
  const out: ArchivedRecord[] = [];
  for await (const r of readArchive(path.join(dataDir, 'archive', name), filter)) out.push(r);
  return out;
}

/** Waits until the archive holds at least `count` records of `stream`, and returns them. */
export async function waitForArchived(dataDir: string, stream: string, count: number, timeoutMs = 120_000, name = 'default'): Promise<ArchivedRecord[]> {
  let last = 0;
  return waitFor(
    `${count} archived records of ${stream} (have ${last})`,
    async () => {
      const recs = await archived(dataDir, name, { stream });
      last = recs.length;
      return recs.length >= count ? recs : undefined;
    },
    timeoutMs,
    500,
  );
}

/** Messages of a topic from the beginning, until `done` says enough (or the timeout). */
export async function consumeRaw(topic: string, done: (values: Buffer[]) => boolean, timeoutMs = 60_000): Promise<Buffer[]> {
  const kafka = kafkaClient();
  const consumer = kafka.consumer({ groupId: randomName('it-raw-'), maxWaitTimeInMs: 100 });
  const values: Buffer[] = [];
  await consumer.connect();
  try {
    await waitFor(`topic ${topic}`, async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        return (await admin.listTopics()).includes(topic);
      } finally {
        await admin.disconnect();
      }
    }, timeoutMs, 200);
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: async ({ batch }) => void values.push(...batch.messages.map((m) => m.value ?? Buffer.alloc(0))) });
    await waitFor(`enough messages on ${topic} (have ${values.length})`, () => done(values), timeoutMs, 100);
  } finally {
    await consumer.disconnect();
  }
  return values;
}
