/**
 * The control service in a process: inside `logfsctl up` (beside the daemon and its embedded
 * pipeline, on the same store), or on its own with `logfsctl control run` (cluster mode: the store
 * and the fleet on Kafka, archive/metrics/alarms read from the pipeline workers' shared data dir).
 */
import os from 'node:os';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { LogfsError } from '../core/errors.js';
import { componentLogger, configureLogger, type Logger } from '../core/logger.js';
import { CONTROL_DEFAULTS, startControl } from '../control/index.js';
import { openFleet } from '../control/fleet/index.js';
import { controlPlaneAt, openStore } from '../control/open-store.js';
import type { DaemonConfig } from '../daemon/config.js';
import { controlPlaneLocation, startDaemon } from '../daemon/daemon.js';
import { parseGatewayConfig } from '../gateway/index.js';
import { readAdminToken } from './api-connection.js';
import { brokersOf, pipelineAttachmentFor } from './daemon-options.js';

/** Loopback by default: the API changes what every host runs; expose it on purpose (--api HOST:PORT). */
export const DEFAULT_LISTEN = `${CONTROL_DEFAULTS.host}:${CONTROL_DEFAULTS.port}`;

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || port > 65535) throw new LogfsError('LOGFS_E_CONFIG', `--api must be HOST:PORT (for example ${DEFAULT_LISTEN}), not "${listen}"`);
  return { host: m[1], port };
}

function consoleLink(url: string, token: string | undefined): string {
  return token ? `${url}/#token=${token}` : url;
}

/** `logfsctl up`: the daemon (mount, gateway, embedded pipeline) and the control service, until a signal. */
export async function runUp(config: DaemonConfig, log: Logger, api: string | null): Promise<void> {
  const daemon = await startDaemon(config, log, pipelineAttachmentFor(config, log));
  let stopControl = async (): Promise<void> => undefined;
  try {
    if (api) {
      const { host, port } = parseListen(api);
      const kafka = config.gateway.kafka;
      const fleet = await openFleet(controlPlaneLocation(config, log));
      const control = await startControl({ store: daemon.store, fleet, dataDir: config.dataDir, host, port, brokers: kafka.brokers, topicPrefix: kafka.topicPrefix, log });
      stopControl = async () => {
        await control.stop();
        await fleet.close();
      };
      await daemon.publishRuntime({ api: control.url });
      process.stderr.write(`logfsctl: console and API at ${control.url} (admin token in ${control.adminTokenFile}); open ${consoleLink(control.url, await readAdminToken(config.dataDir))}\n`);
    }
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    componentLogger('logfsctl', log).info({ signal: sig }, 'signal received');
    void daemon.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await daemon.stopped;
  await stopControl();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

interface ControlRunArgs {
  data: string;
  listen: string;
  kafka?: string[];
  store?: 'file' | 'kafka';
  'topic-prefix'?: string;
  'log-level': string;
}

export const controlCommand: CommandModule<{ data: string }, ControlRunArgs> = {
  command: 'control <command>',
  describe: 'Run the control service (API and web console) on its own',
  builder: (y: Argv<{ data: string }>) =>
    y
      .positional('command', { choices: ['run'] as const, describe: 'run: serve until Ctrl-C' })
      .option('listen', { type: 'string', default: DEFAULT_LISTEN, describe: 'HOST:PORT of the API and console' })
      .option('kafka', { type: 'string', array: true, describe: 'Kafka brokers (cluster mode: the store and the fleet live on Kafka)' })
      .option('store', { choices: ['file', 'kafka'] as const, describe: 'Provisioning store (default: kafka when --kafka is given, else the data dir\'s file)' })
      .option('topic-prefix', { type: 'string', describe: 'Topic prefix (default logfs)' })
      .option('log-level', { type: 'string', default: process.env.LOGFS_LOG_LEVEL ?? 'info' }) as Argv<ControlRunArgs>,
  handler: async (argv) => {
    const log = configureLogger({ level: argv['log-level'] });
    const brokers = brokersOf(argv.kafka) ?? [];
    const kind = argv.store ?? (brokers.length > 0 ? 'kafka' : 'file');
    if (kind === 'kafka' && brokers.length === 0) throw new LogfsError('LOGFS_E_CONFIG', '--store kafka needs --kafka host:port');
    const gw = parseGatewayConfig({ kafka: { brokers, ...(argv['topic-prefix'] ? { topicPrefix: argv['topic-prefix'] } : {}) } });
    const dataDir = path.resolve(argv.data);
    const opts = controlPlaneAt(kind, { dataDir, brokers, topicPrefix: gw.kafka.topicPrefix, replicationFactor: gw.kafka.replicationFactor, log });
    const store = await openStore(opts);
    const fleet = await openFleet(opts);
    const { host, port } = parseListen(argv.listen);
    const control = await startControl({ store, fleet, dataDir, host, port, brokers, topicPrefix: gw.kafka.topicPrefix, log });
    process.stderr.write(`logfsctl: control service on ${os.hostname()} at ${control.url} (store: ${kind}; admin token in ${control.adminTokenFile}); Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await control.stop();
    await fleet.close();
    await store.close();
    process.exit(0);
  },
};
