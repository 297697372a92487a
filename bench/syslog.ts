/**
 * `npm run bench:syslog`: the syslog benchmark of issue 4. The same load, 200-byte RFC 5424
 * messages from a C load generator (bench/writers/syslog-sender.c), over UDP (RFC 5426), a unix
 * datagram socket and TCP (RFC 6587 octet counting), against logfsd with Kafka and against
 * Debian's rsyslogd with omkafka on the same broker, one after the other in the same run. Prints
 * markdown tables on stdout, progress on stderr; stops and removes everything it started.
 *
 * Loss = messages the generator tried to send minus messages found in the receiver's topic once
 * its count stopped moving (counted from the topic's offsets: each run has fresh topics). The
 * generator is measured alone too, against a C receiver that discards, so that a low figure can
 * be told apart from a slow generator.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Admin } from 'kafkajs';
import { z } from 'zod';
import { componentLogger, configureLogger, type Logger } from '../core/logger.js';
import { mergeConfig, readConfigFile } from '../daemon/config.js';
import { parseGatewayConfig } from '../gateway/index.js';
import { topicForStream } from '../control/stream-name.js';
import { benchKafka, createBenchTopic, deleteTopic, ensureBroker, stopBroker, type Broker } from './kafka-broker.js';
import { BENCH_STREAM, LogfsdProcess } from './logfsd-process.js';
import { formatNumber, markdownTable, type Cell } from './markdown-table.js';
import { cpuSeconds, memoryStats, resetPeakRss } from './proc-stats.js';
import { RsyslogProcess } from './rsyslog-process.js';
import { compileSender, runSender, startSink, type SendMode, type SendResult } from './syslog-sender.js';
import { topicCount, waitForCount } from './topic-count.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MB = 1e6;

/** Issue 4's target: TCP into Kafka at this rate or more, with none lost. */
const TARGET_TCP_RATE = 100_000;

// ---- options -------------------------------------------------------------------------------------

const TRANSPORTS = ['udp', 'unix', 'tcp'] as const;
type Transport = (typeof TRANSPORTS)[number];
const SYSTEMS = ['logfsd', 'rsyslog'] as const;
type System = (typeof SYSTEMS)[number];

const list = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(values)).min(1));

const OptionsSchema = z.strictObject({
  messages: z.coerce.number().int().positive().default(300_000).describe('Messages per transport and system'),
  'msg-bytes': z.coerce.number().int().min(120).max(60_000).default(200).describe('Size of each RFC 5424 message, framing aside'),
  'tcp-connections': z.coerce.number().int().min(1).max(64).default(4).describe('TCP clients sending in parallel'),
  'tcp-framing': z.enum(['octet', 'lf']).default('octet').describe('RFC 6587 octet counting or newline framing'),
  'datagram-rate': z.coerce.number().min(0).default(0).describe('Messages/s of the UDP and unix senders; 0 = as fast as the socket takes them'),
  'settle-ms': z.coerce.number().int().min(100).default(5_000)
    .describe('After the senders finish, a topic count that does not move for this long is final'),
  systems: list(SYSTEMS).default([...SYSTEMS]).describe('Comma-separated receivers to measure'),
  transports: list(TRANSPORTS).default([...TRANSPORTS]).describe('Comma-separated transports to measure'),
  'logfsd-config': z.string().optional().describe('YAML/JSON merged into the logfsd config (to measure tunings)'),
  help: z.boolean().default(false),
});
type Options = z.infer<typeof OptionsSchema>;

const USAGE = `Usage: npm run bench:syslog -- [--messages N] [--msg-bytes B] [--tcp-connections N] [--tcp-framing octet|lf]
                             [--datagram-rate N] [--settle-ms MS] [--systems logfsd,rsyslog]
                             [--transports udp,unix,tcp] [--logfsd-config FILE]
Prints markdown tables on stdout, progress on stderr. Needs root (FUSE), cc, rsyslog + rsyslog-kafka
(scripts/setup.sh test) and Java for Kafka.`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      messages: { type: 'string' },
      'msg-bytes': { type: 'string' },
      'tcp-connections': { type: 'string' },
      'tcp-framing': { type: 'string' },
      'datagram-rate': { type: 'string' },
      'settle-ms': { type: 'string' },
      systems: { type: 'string' },
      transports: { type: 'string' },
      'logfsd-config': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const parsed = OptionsSchema.safeParse(values);
  if (!parsed.success) {
    throw new Error(`invalid options:\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}\n${USAGE}`);
  }
  return parsed.data;
}

// ---- measuring -----------------------------------------------------------------------------------

/** Where a receiver listens. */
interface Endpoints {
  udp: string;
  unix: string;
  tcp: string;
}

interface Receiver {
  pid: number;
  assertRunning(): void;
}

interface Result {
  system: System | 'generator alone';
  transport: Transport;
  mode: SendMode;
  connections: number;
  messages: number;
  sent: number;
  /** Refused by the kernel at the sender (datagrams only). */
  senderErrors: number;
  found: number;
  sendS: number;
  /** Start to the moment the topic's final count was first seen; undefined when nothing arrived. */
  ackedS: number | undefined;
  cpuS: number | undefined;
  brokerCpuS: number | undefined;
  senderCpuS: number;
  peakRssBytes: number | undefined;
  peakIsPerRun: boolean;
}

interface Context {
  opts: Options;
  log: Logger;
  sender: string;
  broker: Broker;
  admin: Admin;
  /** Sequence numbers continue over the runs, so every message of the run is unique. */
  nextSeq: number;
}

function sendMode(t: Transport, opts: Options): SendMode {
  if (t === 'tcp') return opts['tcp-framing'] === 'octet' ? 'tcp-octet' : 'tcp-lf';
  return t;
}

/** Splits `total` over `n` clients. */
function shares(total: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0)).filter((c) => c > 0);
}

async function runSenders(ctx: Context, mode: SendMode, address: string, connections: number, startAtMs: number): Promise<SendResult[]> {
  const rate = mode === 'udp' || mode === 'unix' ? ctx.opts['datagram-rate'] : 0;
  const counts = shares(ctx.opts.messages, connections);
  const first = ctx.nextSeq;
  ctx.nextSeq += ctx.opts.messages;
  let seq = first;
  return Promise.all(
    counts.map((count) => {
      const firstSeq = seq;
      seq += count;
      return runSender(ctx.sender, {
        mode,
        address,
        count,
        msgBytes: ctx.opts['msg-bytes'],
        startAtMs,
        rate: rate / counts.length,
        firstSeq,
      });
    }),
  );
}

async function measure(ctx: Context, system: System, receiver: Receiver, transport: Transport, endpoints: Endpoints, topic: string): Promise<Result> {
  const mode = sendMode(transport, ctx.opts);
  const connections = transport === 'tcp' ? ctx.opts['tcp-connections'] : 1;
  const n = ctx.opts.messages;
  ctx.log.info({ system, transport, mode, connections, messages: n }, 'measuring');
  const before = await topicCount(ctx.admin, topic);
  const peakIsPerRun = await resetPeakRss(receiver.pid);
  const brokerPid = ctx.broker.pid;
  const startAt = Date.now() + 250;
  const sample = async (): Promise<{ cpu: number; broker: number | undefined }> => ({
    cpu: await cpuSeconds(receiver.pid),
    broker: brokerPid !== undefined ? await cpuSeconds(brokerPid).catch(() => undefined) : undefined,
  });
  const cpuBefore = new Promise<void>((r) => setTimeout(r, Math.max(0, startAt - Date.now()))).then(sample);
  cpuBefore.catch(() => undefined); // awaited below
  let sendEnd: number | undefined;
  const settled = waitForCount(ctx.admin, topic, before + n, {
    idleMs: ctx.opts['settle-ms'],
    timeoutMs: 600_000,
    pollMs: 50,
    notBefore: () => sendEnd,
  });
  settled.catch(() => undefined); // awaited below
  let sends: SendResult[];
  try {
    sends = await runSenders(ctx, mode, endpoints[transport], connections, startAt);
  } finally {
    sendEnd = Date.now();
  }
  const s = await settled;
  const after = await sample();
  const start = await cpuBefore;
  receiver.assertRunning();
  const mem = await memoryStats(receiver.pid);
  const t0 = Math.min(...sends.map((r) => r.startNs)) / 1e6;
  const t1 = Math.max(...sends.map((r) => r.endNs)) / 1e6;
  const found = s.count - before;
  return {
    system,
    transport,
    mode,
    connections,
    messages: n,
    sent: sends.reduce((a, r) => a + r.sent, 0),
    senderErrors: sends.reduce((a, r) => a + r.errors, 0),
    found,
    sendS: (t1 - t0) / 1000,
    ackedS: found > 0 ? (Math.max(s.at, t1) - t0) / 1000 : undefined,
    cpuS: after.cpu - start.cpu,
    brokerCpuS: after.broker !== undefined && start.broker !== undefined ? after.broker - start.broker : undefined,
    senderCpuS: sends.reduce((a, r) => a + r.cpuS, 0),
    peakRssBytes: mem.peakRssBytes,
    peakIsPerRun,
  };
}

/** The generator against a receiver that only discards: its ceiling per transport (one client). */
async function measureGenerator(ctx: Context, transport: Transport, dir: string): Promise<Result> {
  const mode = sendMode(transport, ctx.opts);
  const n = ctx.opts.messages;
  const address = transport === 'unix' ? path.join(dir, 'sink.sock') : `127.0.0.1:${await freePort(transport === 'udp' ? 'udp' : 'tcp')}`;
  ctx.log.info({ transport, mode, messages: n }, 'measuring the generator alone');
  const sink = await startSink(ctx.sender, mode, address, ctx.opts['msg-bytes'], n, 2_000);
  const [send] = await runSenders(ctx, mode, address, 1, Date.now() + 100);
  const got = await sink.result;
  const r = send as SendResult;
  return {
    system: 'generator alone',
    transport,
    mode,
    connections: 1,
    messages: n,
    sent: r.sent,
    senderErrors: r.errors,
    found: got.received,
    sendS: (r.endNs - r.startNs) / 1e9,
    ackedS: undefined,
    cpuS: undefined,
    brokerCpuS: undefined,
    senderCpuS: r.cpuS,
    peakRssBytes: undefined,
    peakIsPerRun: true,
  };
}

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function endpoints(dir: string): Promise<Endpoints> {
  await fsp.mkdir(dir, { recursive: true });
  return { udp: `127.0.0.1:${await freePort('udp')}`, tcp: `127.0.0.1:${await freePort('tcp')}`, unix: path.join(dir, 'syslog.sock') };
}

async function waitListening(e: Endpoints, receiver: Receiver, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  const port = Number(e.tcp.split(':')[1]);
  for (;;) {
    receiver.assertRunning();
    const up = fs.existsSync(e.unix) && (await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(s.destroy() !== undefined));
      s.once('error', () => resolve(false));
    }));
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${e.tcp} and ${e.unix} within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- the run -------------------------------------------------------------------------------------

interface Resources {
  tmp: string;
  topics: string[];
  logfsd: LogfsdProcess | undefined;
  rsyslog: RsyslogProcess | undefined;
}

async function runLogfsd(ctx: Context, res: Resources, topic: string, prefix: string): Promise<Result[]> {
  const dir = path.join(res.tmp, 'logfsd');
  const e = await endpoints(dir);
  const user = ctx.opts['logfsd-config'] ? await readConfigFile(ctx.opts['logfsd-config']) : {};
  const ours = {
    gateway: { kafka: { topicPrefix: prefix } },
    inputs: { syslog: { defaultStream: BENCH_STREAM, udp: { listen: e.udp }, tcp: { listen: e.tcp }, unix: { path: e.unix } } },
  };
  const config = mergeConfig(ours, user) as Record<string, unknown>;
  ctx.log.info({ settings: config }, 'starting logfsd');
  const p = await LogfsdProcess.start({ root: ROOT, dir, kafka: ctx.broker.address, config, log: ctx.log });
  res.logfsd = p;
  const receiver: Receiver = { pid: p.pid, assertRunning: () => p.assertRunning() };
  try {
    await waitListening(e, receiver, 'logfsd');
    const out: Result[] = [];
    for (const t of ctx.opts.transports) out.push(await measure(ctx, 'logfsd', receiver, t, e, topic));
    return out;
  } finally {
    await p.stop();
    res.logfsd = undefined;
  }
}

async function runRsyslog(ctx: Context, res: Resources, topic: string): Promise<Result[]> {
  const dir = path.join(res.tmp, 'rsyslog');
  const e = await endpoints(dir);
  const p = await RsyslogProcess.start({
    dir,
    udpPort: Number(e.udp.split(':')[1]),
    tcpPort: Number(e.tcp.split(':')[1]),
    socket: e.unix,
    broker: ctx.broker.address,
    topic,
    log: ctx.log,
  });
  res.rsyslog = p;
  const receiver: Receiver = { pid: p.pid, assertRunning: () => p.assertRunning() };
  try {
    await waitListening(e, receiver, 'rsyslogd');
    const out: Result[] = [];
    for (const t of ctx.opts.transports) out.push(await measure(ctx, 'rsyslog', receiver, t, e, topic));
    return out;
  } finally {
    await p.stop();
    res.rsyslog = undefined;
  }
}

// ---- report --------------------------------------------------------------------------------------

const rate = (n: number, s: number | undefined): number | undefined => (s && s > 0 ? n / s : undefined);
const mb = (b: number | undefined): number | undefined => (b === undefined || Number.isNaN(b) ? undefined : b / MB);

function transportTitle(r: Result): string {
  const name = { udp: 'UDP', unix: 'unix datagram', 'tcp-octet': 'TCP, octet counting', 'tcp-lf': 'TCP, newline framing' }[r.mode];
  return r.connections > 1 ? `${name}, ${r.connections} connections` : name;
}

function target(r: Result): string {
  if (r.system !== 'logfsd' || r.transport !== 'tcp') return '';
  const got = rate(r.found, r.ackedS) ?? 0;
  const lost = r.messages - r.found;
  return `≥ ${formatNumber(TARGET_TCP_RATE)}/s, 0 lost: ${got >= TARGET_TCP_RATE && lost === 0 ? 'PASS' : 'FAIL'}`;
}

function resultsTable(results: Result[]): string {
  return markdownTable(
    [
      'receiver', 'transport', 'messages', 'sent msg/s', 'Kafka-acked msg/s', 'lost', 'lost %', 'refused at sender',
      'receiver CPU s', 'receiver CPU µs/msg', 'receiver peak RSS MB', 'broker CPU s', 'target (issue 4)',
    ],
    results.map((r) => {
      const lost = r.messages - r.found;
      return [
        r.system,
        transportTitle(r),
        r.messages,
        rate(r.sent, r.sendS),
        rate(r.found, r.ackedS),
        lost,
        (100 * lost) / r.messages,
        r.senderErrors,
        r.cpuS,
        r.cpuS !== undefined && r.found > 0 ? (1e6 * r.cpuS) / r.found : undefined,
        mb(r.peakRssBytes),
        r.brokerCpuS,
        target(r),
      ];
    }),
  );
}

function generatorTable(results: Result[]): string {
  return markdownTable(
    ['transport', 'messages', 'sent msg/s', 'received by the discarding sink', 'generator CPU s'],
    results.map((r) => [transportTitle(r), r.messages, rate(r.sent, r.sendS), r.found, r.senderCpuS]),
  );
}

function environment(broker: Broker, rsyslog: string): string {
  const sh = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '?';
    }
  };
  const cpus = os.cpus();
  const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no']) !== '' ? ' (with uncommitted changes)' : '';
  return [
    `- ${new Date().toISOString()}, ${os.hostname()}, Linux ${os.release()}, ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${formatNumber(os.totalmem() / 2 ** 30)} GiB`,
    `- Node ${process.version}, ${rsyslog}, commit ${sh('git', ['rev-parse', '--short', 'HEAD'])}${dirty}`,
    `- Kafka: ${broker.address}${broker.startedHere ? ' (started by this run)' : ' (already running)'}; load average at start ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  ].join('\n');
}

function report(opts: Options, env: string, generator: Result[], results: Result[], elapsedS: number): string {
  const out: string[] = [];
  out.push(
    '# logFS syslog benchmark',
    '',
    env,
    `- ${formatNumber(opts.messages)} messages of ${opts['msg-bytes']} bytes (RFC 5424, framing aside) per transport and receiver; ` +
      `datagram senders ${opts['datagram-rate'] > 0 ? `paced at ${formatNumber(opts['datagram-rate'])}/s` : 'unpaced'}; whole run ${formatNumber(elapsedS)} s`,
    '',
  );
  if (generator.length > 0) {
    out.push('## The load generator alone', '', 'One client against a C receiver that reads and discards: the most the generator can offer.', '', generatorTable(generator), '');
  }
  out.push(
    '## Into Kafka',
    '',
    '"sent" = first message to the last one written by the clients; "Kafka-acked" = messages found in the receiver\'s topic ' +
      'over the time from the first message until that count stopped moving (acks=all for both: logfsd\'s producer, and ' +
      'omkafka with request.required.acks=-1); "lost" = messages the clients tried to send minus messages in the topic. ' +
      'Receiver CPU is utime+stime of all its threads over the same window; peak RSS is VmHWM reset before each transport. ' +
      'logfsd writes one MessagePack record per message with the parsed header as attrs; rsyslog one JSON object with the parsed fields.',
    '',
    resultsTable(results),
    '',
  );
  if (results.some((r) => !r.peakIsPerRun)) out.push('Peak RSS could not be reset (/proc/<pid>/clear_refs): it is the peak since the receiver started.', '');
  return out.join('\n');
}

// ---- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const log = componentLogger('bench', configureLogger({ level: process.env.LOGFS_LOG_LEVEL ?? 'info' }));
  if (opts.systems.includes('logfsd') && !fs.existsSync('/dev/fuse')) throw new Error('/dev/fuse is missing: logfsd needs FUSE');
  const started = Date.now();
  const res: Resources = { tmp: await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-bench-syslog-')), topics: [], logfsd: undefined, rsyslog: undefined };
  let broker: Broker | undefined;
  let admin: Admin | undefined;
  const cleanup = async (): Promise<void> => {
    await res.logfsd?.stop().catch((err: unknown) => log.warn({ err: String(err) }, 'stopping logfsd failed'));
    await res.rsyslog?.stop().catch((err: unknown) => log.warn({ err: String(err) }, 'stopping rsyslogd failed'));
    await admin?.disconnect().catch(() => undefined);
    for (const t of res.topics) if (broker) await deleteTopic(broker.address, t, log);
    if (broker) await stopBroker(ROOT, broker, log);
    await fsp.rm(res.tmp, { recursive: true, force: true });
  };
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log.warn({ signal: sig }, 'interrupted; cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const rsyslogVersion = opts.systems.includes('rsyslog')
      ? await RsyslogProcess.version().catch(() => {
          throw new Error('rsyslogd is not installed: run scripts/setup.sh test (it installs rsyslog and rsyslog-kafka)');
        })
      : 'rsyslog not run';
    const sender = await compileSender(ROOT, res.tmp);
    broker = await ensureBroker(ROOT, log);
    admin = benchKafka(broker.address).admin();
    await admin.connect();
    // Fresh topics per run (the prefix is unique): their offsets count exactly this run's messages.
    const prefix = `syslogbench-${crypto.randomBytes(4).toString('hex')}`;
    const maxBytes = parseGatewayConfig({}).kafka.topicMaxMessageBytes;
    const logfsdTopic = topicForStream('default', BENCH_STREAM, prefix);
    const rsyslogTopic = `${prefix}.rsyslog`;
    for (const t of [logfsdTopic, rsyslogTopic]) {
      await createBenchTopic(broker.address, t, maxBytes);
      res.topics.push(t);
    }
    const env = environment(broker, rsyslogVersion);
    const ctx: Context = { opts, log, sender, broker, admin, nextSeq: 0 };
    const generator: Result[] = [];
    for (const t of opts.transports) generator.push(await measureGenerator(ctx, t, res.tmp));
    const results: Result[] = [];
    if (opts.systems.includes('logfsd')) results.push(...(await runLogfsd(ctx, res, logfsdTopic, prefix)));
    if (opts.systems.includes('rsyslog')) results.push(...(await runRsyslog(ctx, res, rsyslogTopic)));
    process.stdout.write(report(opts, env, generator, results, (Date.now() - started) / 1000));
  } finally {
    if (!interrupted) await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
