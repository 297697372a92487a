/**
 * Integration test harness: a real logfsd (child process) on a real FUSE mount in a temp dir, a
 * real Kafka broker started by scripts/kafka.sh (address in LOGFS_TEST_KAFKA), and each test on its
 * own random provider so its topics are fresh.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import YAML from 'yaml';
import { LOGFSD_NODE_FLAGS } from '../../cli/node-flags.js';
import { topicForStream } from '../../control/stream-name.js';
import { decodeJournalEntry, decodeRecord, parsePrometheusText, type LogRecord } from '../../gateway/index.js';
import { JournalReader } from '../../gateway/journal-reader.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const execFileP = promisify(execFile);
export const KAFKA = process.env.LOGFS_TEST_KAFKA ?? '127.0.0.1:19092';

export function randomName(prefix = 't'): string {
  return `${prefix}${crypto.randomBytes(5).toString('hex')}`;
}

export async function tempDir(prefix = 'logfs-it-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

export async function isMounted(dir: string): Promise<boolean> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === dir);
}

/** Runs `bin/logfsctl.js` and returns its result (never throws on a non-zero exit). */
export async function logfsctl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [path.join(ROOT, 'bin/logfsctl.js'), ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 256 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs a shell command; rejects with its stderr on failure. */
export async function sh(cmd: string, opts: { env?: Record<string, string>; timeout?: number } = {}): Promise<string> {
  const { stdout } = await execFileP('bash', ['-c', cmd], { env: { ...process.env, ...opts.env }, timeout: opts.timeout ?? 120_000, maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

export interface DaemonOptions {
  kafka?: boolean;
  instance?: string;
  provider?: string;
  /** Extra configuration merged into the YAML config file. */
  config?: Record<string, unknown>;
  args?: string[];
  dataDir?: string;
  mountDir?: string;
  streams?: (string | { name: string; partitions?: number })[];
}

/** A program the tests run as a child process, logging to a file: logfsd, a pipeline worker. */
export class ManagedChild {
  child: ChildProcess | undefined;
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly logFile: string) {}

  /** Starts `args` with node, its output appended to the log file. */
  protected spawnNode(args: string[]): ChildProcess {
    const fd = fs.openSync(this.logFile, 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    return child;
  }

  async logTail(lines = 30): Promise<string> {
    const text = await fsp.readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM and wait: the program stops cleanly (logfsd unmounts and flushes). */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  async kill9(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export class Daemon extends ManagedChild {
  constructor(
    readonly dataDir: string,
    readonly mnt: string,
    readonly provider: string,
    readonly instance: string,
    readonly args: string[],
  ) {
    super(path.join(dataDir, 'logfsd.log'));
  }

  /** A temp dir this harness made for the daemon, removed by cleanup(). */
  ownedBase: string | undefined;

  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const ownedBase = opts.dataDir ? undefined : await tempDir();
    const base = opts.dataDir ? path.dirname(opts.dataDir) : (ownedBase as string);
    const dataDir = opts.dataDir ?? path.join(base, 'data');
    const mnt = opts.mountDir ?? path.join(base, 'mnt');
    const provider = opts.provider ?? randomName('p');
    const instance = opts.instance ?? randomName('i');
    await fsp.mkdir(dataDir, { recursive: true });
    const config = {
      gateway: { provider, instance: { id: instance }, metricsListen: '127.0.0.1:0', ...(opts.kafka ? { kafka: { brokers: [KAFKA] } } : {}) },
    };
    const merged = mergeDeep(config, opts.config ?? {});
    const configFile = path.join(dataDir, 'test-config.yaml');
    await fsp.writeFile(configFile, YAML.stringify(merged));
    const d = new Daemon(dataDir, mnt, provider, instance, ['--data', dataDir, '--mount', mnt, '--config', configFile, '--log-level', 'debug', ...(opts.args ?? [])]);
    for (const s of opts.streams ?? []) {
      const spec = typeof s === 'string' ? { name: s } : s;
      const r = await logfsctl(['stream', 'create', spec.name, '--data', dataDir, '--provider', provider, '--partitions', String(spec.partitions ?? 1)]);
      if (r.code !== 0) throw new Error(`stream create failed: ${r.stderr}`);
    }
    d.ownedBase = ownedBase;
    await d.launch();
    return d;
  }

  async launch(): Promise<void> {
    const child = this.spawnNode([...LOGFSD_NODE_FLAGS, path.join(ROOT, 'bin/logfsd.js'), ...this.args]);
    await waitFor(`logfsd to mount ${this.mnt}`, async () => {
      if (child.exitCode !== null) throw new Error(`logfsd exited with ${child.exitCode}: ${await this.logTail()}`);
      const rt = await this.runtime().catch(() => undefined);
      return rt && rt.pid === child.pid && (await isMounted(this.mnt));
    }, 30_000);
  }

  async runtime(): Promise<{ pid: number; metrics: string | null; journalDir: string }> {
    return JSON.parse(await fsp.readFile(path.join(this.dataDir, 'runtime.json'), 'utf8'));
  }

  async metrics(): Promise<Record<string, number>> {
    const rt = await this.runtime();
    const res = await fetch(`http://${rt.metrics}/metrics`);
    return parsePrometheusText(await res.text());
  }

  path(stream: string, label?: string): string {
    return path.join(this.mnt, label === undefined ? stream : `${stream}@${label.split('/').join('@')}`);
  }

  topic(stream: string): string {
    return `logfs.${this.provider}.${stream.split('/').join('.')}`;
  }

  /** Stops the daemon and lazily unmounts anything left, then removes the temp dirs it made. */
  async cleanup(): Promise<void> {
    await this.stop();
    if (await isMounted(this.mnt)) await execFileP('fusermount', ['-uz', this.mnt]).catch(() => undefined);
    if (this.ownedBase && !(await isMounted(this.mnt))) await fsp.rm(this.ownedBase, { recursive: true, force: true });
  }
}

function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const av = out[k];
    out[k] = av && typeof av === 'object' && !Array.isArray(av) && v && typeof v === 'object' && !Array.isArray(v) ? mergeDeep(av as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** Every record of `stream` in the daemon's journal now (embedded mode: the journal is the bus). */
export async function journalRecords(d: Daemon, stream: string): Promise<LogRecord[]> {
  const topic = topicForStream(d.provider, stream);
  const reader = new JournalReader((await d.runtime()).journalDir);
  let pos = await reader.start(true);
  const out: LogRecord[] = [];
  for (;;) {
    const { payloads, next } = await reader.read(pos);
    if (payloads.length === 0) return out;
    pos = next;
    for (const p of payloads) {
      const e = decodeJournalEntry(p);
      if (e.topic === topic) out.push(decodeRecord(e.value));
    }
  }
}

export function kafkaClient(): Kafka {
  return new Kafka({ clientId: 'logfs-it', brokers: [KAFKA], logLevel: logLevel.NOTHING });
}

/** Reads a topic from the beginning until `count` records arrived (or throws on timeout). */
export async function consumeRecords(topic: string, count: number, timeoutMs = 60_000, settleMs = 500): Promise<LogRecord[]> {
  const kafka = kafkaClient();
  // The topic is created by the gateway; wait until its partitions have leaders before subscribing.
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(`topic ${topic} with leaders`, async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return topics[0]?.partitions.every((p) => p.leader >= 0) && topics[0].partitions.length > 0;
    }, timeoutMs, 100);
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({ groupId: randomName('it-'), maxWaitTimeInMs: 100 });
  const records: LogRecord[] = [];
  let crashed: Error | undefined;
  // kafkajs restarts the consumer after a retriable crash (a coordinator still loading after the
  // broker restarted); only a crash it gives up on fails the wait.
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) crashed = e.payload.error;
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) if (m.value) records.push(decodeRecord(m.value));
      },
    });
    await waitFor(`${count} records on ${topic}`, () => {
      if (crashed) throw crashed;
      return records.length >= count;
    }, timeoutMs, 100);
    // Wait a little more to catch duplicates that would arrive after the expected count.
    await sleep(settleMs);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

export async function ensureKafka(): Promise<void> {
  const admin = kafkaClient().admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (err) {
    throw new Error(`no Kafka broker at ${KAFKA}: run the tests with scripts/test.sh (or start one with scripts/kafka.sh start): ${String(err)}`);
  } finally {
    await admin.disconnect();
  }
}

export function text(r: LogRecord): string {
  return r.data.toString('utf8');
}

let cWriter: string | undefined;
/** Compiles test/fixtures/fwrite-writer.c once: writes lines with fopen/fwrite/fclose. */
export async function fwriteWriter(): Promise<string> {
  if (cWriter) return cWriter;
  const out = path.join(await tempDir('logfs-cc-'), 'fwrite-writer');
  await execFileP('cc', ['-O2', '-o', out, path.join(ROOT, 'test/fixtures/fwrite-writer.c')]);
  return (cWriter = out);
}
