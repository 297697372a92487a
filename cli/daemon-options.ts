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
    .option('log-level', { choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], describe: 'Log level' }) as Argv<T & DaemonFlags>;
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
  };
  return parseDaemonConfig(mergeConfig(file, overrides));
}

/** The in-process pipeline worker, when the config asks for one (auto: in embedded mode). */
export function pipelineAttachmentFor(config: DaemonConfig, log: Logger): DaemonAttachment | undefined {
  const embedded = config.gateway.kafka.brokers.length === 0;
  const on = config.pipeline === 'on' || (config.pipeline === 'auto' && embedded);
  // A daemon that uses a separate gateway has no journal here; that gateway runs the pipeline.
  if (!on || config.gatewaySocket) return undefined;
  return pipelineAttachment(config.gateway, log);
}
