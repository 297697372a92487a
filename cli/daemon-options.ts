/** Flags shared by `logfsd` and `logfsctl up`, and how they become a DaemonConfig. */
import type { Argv } from 'yargs';
import type { Logger } from '../core/logger.js';
import { mergeConfig, parseDaemonConfig, readConfigFile, type DaemonConfig } from '../daemon/config.js';
import type { DaemonAttachment } from '../daemon/daemon.js';
import { pipelineAttachment } from '../pipeline/host.js';

export interface DaemonFlags {
  config?: string;
  data?: string;
  mount?: string;
  kafka?: string[];
  'instance-id'?: string;
  provider?: string;
  durability?: string;
  'on-full'?: string;
  metrics?: string;
  'auto-provision'?: boolean;
  'gateway-socket'?: string;
  'journal-max-bytes'?: number;
  fsync?: string;
  'log-level'?: string;
  pipeline?: string;
  store?: string;
  'syslog-unix'?: string;
  'syslog-take-over'?: boolean;
  'syslog-udp'?: string;
  'syslog-tcp'?: string;
  'syslog-tls-cert'?: string;
  'syslog-tls-key'?: string;
  'syslog-tls-ca'?: string;
  'socket-unix'?: string;
  'socket-tcp'?: string;
  'socket-tls-cert'?: string;
  'socket-tls-key'?: string;
}

export function daemonFlags<T>(y: Argv<T>): Argv<T & DaemonFlags> {
  return y
    .option('config', { type: 'string', describe: 'YAML or JSON config file (flags override it)' })
    .option('mount', { type: 'string', describe: 'Mount point (default /dev/logFS)' })
    .option('kafka', { type: 'string', array: true, describe: 'Kafka bootstrap broker host:port (repeat or comma-separate); none = embedded mode' })
    .option('instance-id', { type: 'string', describe: 'Instance ID (default: metadata endpoint or /etc/machine-id)' })
    .option('provider', { type: 'string', describe: 'Provider (tenant) of this host' })
    .option('durability', { choices: ['journal', 'kafka'], describe: 'What fsync()/close() wait for' })
    .option('on-full', { choices: ['block', 'refuse'], describe: 'At the journal bound: block writers or refuse with ENOSPC' })
    .option('metrics', { type: 'string', describe: 'Prometheus endpoint host:port, or "off"' })
    .option('auto-provision', { type: 'boolean', describe: 'Provision an unknown stream when it is first opened with O_CREAT (>>, >, fopen)' })
    .option('gateway-socket', { type: 'string', describe: 'Use a separate per-host gateway on this unix socket' })
    .option('journal-max-bytes', { type: 'number', describe: 'Bound on journal bytes not yet in Kafka' })
    .option('fsync', { choices: ['always', 'interval', 'barrier'], describe: 'Journal fsync policy' })
    .option('pipeline', { choices: ['auto', 'on', 'off'], describe: 'Run a pipeline worker in this process (auto: in embedded mode)' })
    .option('store', { choices: ['file', 'kafka'], describe: 'Provisioning store: the data dir\'s file, or the cluster\'s compacted Kafka topic (needs --kafka)' })
    .option('log-level', { choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], describe: 'Log level' })
    .option('syslog-unix', { type: 'string', describe: 'Receive syslog on this unix datagram socket (/dev/log needs --syslog-take-over if a system logger has it)' })
    .option('syslog-take-over', { type: 'boolean', describe: 'Move a live socket at the --syslog-unix path aside while running, and put it back on stop' })
    .option('syslog-udp', { type: 'string', describe: 'Receive syslog over UDP on HOST:PORT (default 127.0.0.1:5514; 514 only when given)' })
    .option('syslog-tcp', { type: 'string', describe: 'Receive syslog over TCP on HOST:PORT (RFC 6587; default 127.0.0.1:5514, or :6514 with TLS)' })
    .option('syslog-tls-cert', { type: 'string', describe: 'PEM certificate: serve TLS on the syslog TCP listener (RFC 5425)' })
    .option('syslog-tls-key', { type: 'string', describe: 'PEM private key of --syslog-tls-cert' })
    .option('syslog-tls-ca', { type: 'string', describe: 'PEM CA to verify syslog client certificates against' })
    .option('socket-unix', { type: 'string', describe: 'Plain socket input on this unix stream socket (docs/socket-protocol.md)' })
    .option('socket-tcp', { type: 'string', describe: 'Plain socket input on TCP HOST:PORT' })
    .option('socket-tls-cert', { type: 'string', describe: 'PEM certificate: serve TLS on the plain socket TCP listener' })
    .option('socket-tls-key', { type: 'string', describe: 'PEM private key of --socket-tls-cert' }) as Argv<T & DaemonFlags>;
}

export function brokersOf(list: string[] | undefined): string[] | undefined {
  if (!list) return undefined;
  return list.flatMap((b) => b.split(',')).map((b) => b.trim()).filter(Boolean);
}

export async function daemonConfigFromFlags(flags: DaemonFlags & { data: string }): Promise<DaemonConfig> {
  const file = flags.config ? await readConfigFile(flags.config) : {};
  const brokers = brokersOf(flags.kafka);
  const overrides = {
    dataDir: flags.data,
    logLevel: flags['log-level'],
    gatewaySocket: flags['gateway-socket'],
    pipeline: flags.pipeline,
    store: flags.store,
    mount: { path: flags.mount, autoProvision: flags['auto-provision'] },
    gateway: {
      provider: flags.provider,
      durability: flags.durability,
      onFull: flags['on-full'],
      metricsListen: flags.metrics === 'off' ? null : flags.metrics,
      instance: { id: flags['instance-id'] },
      kafka: { brokers },
      journal: { maxBytes: flags['journal-max-bytes'], fsync: flags.fsync },
    },
    inputs: inputFlags(flags),
  };
  return parseDaemonConfig(mergeConfig(file, overrides));
}

/**
 * The input flags as a config fragment. Only what was given appears: a listener the flags do not
 * name keeps the file's settings, and a flag with an empty value switches a listener on with its
 * defaults (`--syslog-udp ''`).
 */
function inputFlags(f: DaemonFlags): Record<string, unknown> | undefined {
  const given = (v: unknown): boolean => v !== undefined;
  const syslog: Record<string, unknown> = {};
  if (given(f['syslog-unix']) || given(f['syslog-take-over'])) syslog.unix = { path: f['syslog-unix'], takeOver: f['syslog-take-over'] };
  if (given(f['syslog-udp'])) syslog.udp = { listen: f['syslog-udp'] };
  const tls = [f['syslog-tls-cert'], f['syslog-tls-key'], f['syslog-tls-ca']].some(given)
    ? { cert: f['syslog-tls-cert'], key: f['syslog-tls-key'], ca: f['syslog-tls-ca'] }
    : undefined;
  if (given(f['syslog-tcp']) || tls) syslog.tcp = { listen: f['syslog-tcp'] || undefined, tls };
  const socket: Record<string, unknown> = {};
  if (given(f['socket-unix'])) socket.unix = f['socket-unix'];
  if (given(f['socket-tcp'])) socket.tcp = f['socket-tcp'];
  if (given(f['socket-tls-cert']) || given(f['socket-tls-key'])) socket.tls = { cert: f['socket-tls-cert'], key: f['socket-tls-key'] };
  const out: Record<string, unknown> = {};
  if (Object.keys(syslog).length > 0) out.syslog = syslog;
  if (Object.keys(socket).length > 0) out.socket = socket;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The in-process pipeline worker, when the config asks for one (auto: in embedded mode). */
export function pipelineAttachmentFor(config: DaemonConfig, log: Logger): DaemonAttachment | undefined {
  const embedded = config.gateway.kafka.brokers.length === 0;
  const on = config.pipeline === 'on' || (config.pipeline === 'auto' && embedded);
  // A daemon that uses a separate gateway has no journal here; that gateway runs the pipeline.
  if (!on || config.gatewaySocket) return undefined;
  return pipelineAttachment(config.gateway, log);
}
