/**
 * logfsd: the per-host process. Opens the provisioning store, starts the gateway (inside, or connects
 * to a separate one), mounts the filesystem, publishes runtime info for logfsctl, and unmounts
 * cleanly on SIGINT/SIGTERM.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { isLogfsError } from '../core/errors.js';
import { componentLogger, rootLogger, type Logger } from '../core/logger.js';
import { processAlive } from '../core/process-alive.js';
import { memberId, openFleet, type Fleet } from '../control/fleet/index.js';
import { controlPlaneAt, openStore, type ControlPlaneLocation } from '../control/open-store.js';
import { createStream, StreamCatalog, type ProvisioningStore } from '../control/store.js';
import { Gateway, resolveInstanceId, type IngestSink, type InstanceIdentity } from '../gateway/index.js';
import { connectGateway, type GatewayClient } from '../gateway/gateway-client.js';
import { closeInputs, inputAddresses, startInputs, type RunningInput } from '../inputs/index.js';
import type { DaemonConfig } from './config.js';
import { daemonCollector } from './fleet-member.js';
import { isMountPoint, LogFs } from './fuse-fs.js';

export const RUNTIME_FILE = 'runtime.json';

/** What logfsctl learns about a running logfsd from `<data>/runtime.json`. */
export interface RuntimeInfo {
  pid: number;
  dataDir: string;
  mountpoint: string;
  metrics: string | null;
  brokers: string[];
  topicPrefix: string;
  journalDir: string;
  provider: string;
  instance: string;
  embedded: boolean;
  gatewaySocket: string | null;
  /** Addresses of the socket inputs (`udp://127.0.0.1:5514`, `unix:///dev/log`, …), ports as bound. */
  inputs: string[];
  /** Where the provisioning store lives: the data dir's file, or the cluster's Kafka topic. */
  store: 'file' | 'kafka';
  /** Base URL of the control API served by this process (`logfsctl up`), or null. */
  api: string | null;
  startedAt: string;
}

export interface RunningDaemon {
  readonly fs: LogFs;
  readonly gateway: Gateway | undefined;
  readonly store: ProvisioningStore;
  readonly identity: InstanceIdentity;
  readonly runtime: RuntimeInfo;
  stop(): Promise<void>;
  /** Resolves once the daemon has stopped (asked to, or because its mount was taken away). */
  readonly stopped: Promise<void>;
  /** Adds what the process serves beside the daemon (the control API of `logfsctl up`) to runtime.json. */
  publishRuntime(patch: Partial<Pick<RuntimeInfo, 'api'>>): Promise<void>;
}

export const DAEMON_DEFAULTS = {
  /** How often logfsd checks that its mount is still there (`umount DIR` by an administrator). */
  mountCheckMs: 1000,
};

/**
 * Something that runs inside logfsd beside the gateway (the embedded pipeline worker); the daemon
 * starts it once the gateway is up and stops it before the gateway closes, and does not know what
 * it is (dependencies point one way: the pipeline knows the gateway, not the other way round).
 */
export interface DaemonAttachment {
  /** Journal consumers that must pass an entry before it is deleted (embedded mode). */
  journalConsumers: string[];
  /** `fleet`: the daemon's (file or Kafka, like the store), for the attachment to report itself. */
  start(ctx: { gateway: Gateway; store: ProvisioningStore; dataDir: string; fleet?: Fleet }): Promise<{ stop(): Promise<void> }>;
}

/**
 * Where the provisioning store and the fleet reports of a daemon's config live: the data dir
 * (one host), or the Kafka brokers (`store: kafka`, cluster mode).
 */
export function controlPlaneLocation(config: DaemonConfig, log?: Logger): ControlPlaneLocation {
  const kafka = config.gateway.kafka;
  return controlPlaneAt(config.store, { dataDir: config.dataDir, brokers: kafka.brokers, topicPrefix: kafka.topicPrefix, replicationFactor: kafka.replicationFactor, ...(log ? { log } : {}) });
}

export async function startDaemon(config: DaemonConfig, parentLog?: Logger, attachment?: DaemonAttachment): Promise<RunningDaemon> {
  const log = componentLogger('logfsd', parentLog);
  await fsp.mkdir(config.dataDir, { recursive: true });
  const kafka = config.gateway.kafka;
  const store = await openStore(controlPlaneLocation(config, log));
  let gateway: Gateway | undefined;
  let client: GatewayClient | undefined;
  let sink: IngestSink;
  let identity: InstanceIdentity;
  try {
    if (config.gatewaySocket) {
      // A separate gateway decides who we are from the socket we use (and the credential).
      client = await connectGateway(config.gatewaySocket, config.gatewayCredential, parentLog);
      identity = client.identity;
      sink = client;
    } else {
      const { id, source } = await resolveInstanceId(config.gateway.instance);
      log.info({ instance: id, source }, 'instance identity');
      identity = { instance: id, provider: config.gateway.provider };
      gateway = await Gateway.start(config.gateway, { dataDir: config.dataDir, store, log: parentLog, embeddedConsumers: attachment?.journalConsumers ?? [] });
      sink = gateway;
    }
  } catch (err) {
    await store.close();
    throw err;
  }

  // Who runs where and what it applied (control/fleet), on the store's medium: the control service reads it.
  let fleet: Fleet;
  try {
    fleet = await openFleet({ ...controlPlaneLocation(config, parentLog), ...(config.store === 'kafka' ? { clientId: `${kafka.clientId}-fleet` } : {}) });
  } catch (err) {
    await gateway?.close();
    await client?.close();
    await store.close();
    throw err;
  }
  const mountpoint = path.resolve(config.mount.path);
  const reporter = fleet.reporter({
    id: memberId('daemon', config.gateway.host, identity.instance),
    kind: 'daemon',
    host: config.gateway.host,
    collect: daemonCollector(identity, mountpoint, gateway),
  });
  // The mount shows the streams of this instance's provider.
  const catalog = new StreamCatalog(store.snapshot(), identity.provider);
  reporter.noteStoreVersion(store.snapshot().version);
  const unwatch = store.watch((s) => {
    catalog.reset(s);
    reporter.noteStoreVersion(s.version);
  });
  const fs = new LogFs(
    {
      catalog,
      sink,
      identity,
      log: parentLog,
      provision: async (name) => {
        try {
          await createStream(store, { name, provider: identity.provider });
          log.info({ stream: name }, 'auto-provisioned stream');
        } catch (err) {
          if (!isLogfsError(err, 'LOGFS_E_EXISTS')) throw err;
        }
        catalog.reset(store.snapshot());
      },
    },
    {
      mountpoint,
      autoProvision: config.mount.autoProvision,
      maxRecordBytes: config.mount.maxRecordBytes,
      blksize: config.mount.blksize,
      bigWrites: config.mount.bigWrites,
      directIo: config.mount.directIo,
      allowOther: config.mount.allowOther,
      fastWrites: config.mount.fastWrites,
    },
  );
  // Gauges (read when scraped) rather than counters: the binding counts, in C.
  gateway?.metrics.gauge('logfs_fuse_fast_writes', 'Writes answered by the fast write path since the mount (0 when it is off)', () => fs.fastWriteStats()?.writes ?? 0);
  gateway?.metrics.gauge('logfs_fuse_fast_write_waits', 'Fast-path writes that waited for the JavaScript thread to take the buffer', () => fs.fastWriteStats()?.waited ?? 0);
  let attached: { stop(): Promise<void> } | undefined;
  let inputs: RunningInput[] = [];
  let mounted = false;
  try {
    if (attachment && gateway) attached = await attachment.start({ gateway, store, dataDir: config.dataDir, fleet });
    await fs.mount();
    mounted = true;
    // Sockets feed the same gateway as the mount, and are opened once everything they need is up.
    inputs = await startInputs(config.inputs, { sink, identity, store, log: parentLog ?? rootLogger(), dataDir: config.dataDir, metrics: gateway?.metrics });
  } catch (err) {
    if (mounted) await fs.unmount().catch((e: unknown) => log.error({ err: e }, 'unmounting after a failed start failed'));
    unwatch();
    await attached?.stop();
    await gateway?.close();
    await client?.close();
    await fleet.close();
    await store.close();
    throw err;
  }

  const runtime: RuntimeInfo = {
    pid: process.pid,
    dataDir: path.resolve(config.dataDir),
    mountpoint: fs.mountpoint,
    metrics: gateway?.metricsAddress ?? null,
    brokers: config.gateway.kafka.brokers,
    topicPrefix: config.gateway.kafka.topicPrefix,
    journalDir: gateway ? (config.gateway.journal.dir ?? path.join(path.resolve(config.dataDir), 'journal')) : '',
    provider: identity.provider,
    instance: identity.instance,
    embedded: gateway ? gateway.embedded : false,
    gatewaySocket: config.gatewaySocket ?? null,
    inputs: inputAddresses(inputs),
    store: config.store,
    api: null,
    startedAt: new Date().toISOString(),
  };
  const runtimeFile = path.join(config.dataDir, RUNTIME_FILE);
  await writeRuntime(runtimeFile, runtime);
  reporter.start();
  log.info({ mountpoint: fs.mountpoint, metrics: runtime.metrics, inputs: runtime.inputs }, 'logfsd ready');

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('stopping');
      clearInterval(mountCheck);
      await reporter.stop();
      await fs.unmount();
      // Inputs deliver what they hold before the gateway goes.
      for (const err of await closeInputs(inputs)) log.error({ err }, 'closing an input failed');
      unwatch();
      // The pipeline finishes its batch in flight and flushes open windows; what it has not read stays in the journal.
      await attached?.stop().catch((err: unknown) => log.error({ err }, 'stopping the pipeline failed'));
      await gateway?.close();
      await client?.close();
      await fleet.close();
      await store.close();
      await fsp.rm(runtimeFile, { force: true });
      log.info('stopped');
    })().finally(resolveStopped));
  // An administrator's plain `umount DIR` ends the FUSE session without telling us: notice and stop.
  const mountCheck = setInterval(() => {
    void isMountPoint(fs.mountpoint).then((mounted) => {
      if (!mounted && !stopping) {
        log.warn({ mountpoint: fs.mountpoint }, 'the filesystem was unmounted from outside; stopping');
        void stop();
      }
    });
  }, DAEMON_DEFAULTS.mountCheckMs);
  mountCheck.unref();
  return {
    fs,
    gateway,
    store,
    identity,
    runtime,
    stop,
    stopped,
    async publishRuntime(patch) {
      Object.assign(runtime, patch);
      await writeRuntime(runtimeFile, runtime);
    },
  };
}

/** Runs logfsd until SIGINT or SIGTERM; resolves when it has stopped cleanly. */
export async function runDaemon(config: DaemonConfig, log?: Logger, attachment?: DaemonAttachment): Promise<void> {
  const daemon = await startDaemon(config, log, attachment);
  const onSignal = (sig: NodeJS.Signals): void => {
    componentLogger('logfsd', log).info({ signal: sig }, 'signal received');
    void daemon.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await daemon.stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

/**
 * Replaces runtime.json whole (a temp file renamed over it): logfsctl, the tests and the benchmark
 * poll it while logfsd starts, and a reader must never see half of it.
 */
async function writeRuntime(file: string, runtime: RuntimeInfo): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(runtime, null, 2) + '\n');
  await fsp.rename(tmp, file);
}

export async function readRuntime(dataDir: string): Promise<RuntimeInfo | undefined> {
  try {
    const info = JSON.parse(await fsp.readFile(path.join(dataDir, RUNTIME_FILE), 'utf8')) as RuntimeInfo;
    return processAlive(info.pid) ? info : undefined; // else left by a process that died
  } catch {
    return undefined;
  }
}
