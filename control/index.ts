/**
 * The control service (docs/control-api.md): the HTTP API over the provisioning store, the
 * OpenAPI document, the web console's files, provisioning jobs, the live tail and, with Kafka
 * brokers, the topic reconciler (stream spec changes applied to their topics). It runs inside
 * `logfsctl up` and on its own as `logfsctl control run`; `startControl` is the one entry point.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentLogger, type Logger } from '../core/logger.js';
import { bootstrapAdminToken } from './auth.js';
import { memberId, type Fleet, type FleetReporter } from './fleet/index.js';
import { startControlServer } from './http/server.js';
import { JobTracker } from './jobs.js';
import { ControlService, type FleetReader } from './service/index.js';
import type { ProvisioningStore } from './store.js';
import { createReconcilerKafka, TopicReconciler } from './topic-reconciler.js';

export { ControlService, type FleetReader, type TailTarget } from './service/index.js';
export { type Principal, authenticate, bootstrapAdminToken, hashToken } from './auth.js';
export { JobTracker, JOBS_DEFAULTS } from './jobs.js';

/** The package root: control/index.ts runs from dist/control/ (built) or control/ (tests). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

function packageVersion(root: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const CONTROL_DEFAULTS = {
  host: '127.0.0.1',
  port: 7480,
  /** Relative to the package root. */
  consoleDir: 'dist/console',
} as const;

export interface StartControlOptions {
  store: ProvisioningStore;
  /** The fleet (openFleet): the service opens a view and reports itself as a `control` member. Or a ready view. */
  fleet: Fleet | FleetReader;
  dataDir: string;
  host: string;
  /** 0: any free port. */
  port: number;
  /**
   * Kafka brokers of the live tail and of the topic reconciler (control/topic-reconciler.ts); none:
   * the journal in the data dir (embedded mode), and no topics to reconcile.
   */
  brokers: string[];
  topicPrefix: string;
  /**
   * Apply stream specs to their topics (control/topic-reconciler.ts) while running; only with
   * brokers. Default true; false for a short-lived in-process service (a CLI command).
   */
  reconcileTopics?: boolean;
  /** Defaults: `<data>/archive`, `<data>/metrics`, `<data>/alarms`, `<data>/journal`. */
  archiveDir?: string;
  metricsDir?: string;
  alarmsDir?: string;
  journalDir?: string;
  /** Default dist/console in the package. */
  consoleDir?: string;
  /** A live member that has not applied a commit after this long fails its job (30 s). */
  propagationTimeoutMs?: number;
  log: Logger;
}

export interface RunningControl {
  url: string;
  adminTokenFile: string;
  service: ControlService;
  stop(): Promise<void>;
}

function isFleet(f: Fleet | FleetReader): f is Fleet {
  return typeof (f as Fleet).view === 'function';
}

export async function startControl(opts: StartControlOptions): Promise<RunningControl> {
  const log = componentLogger('control', opts.log);
  const root = packageRoot();
  const dataDir = path.resolve(opts.dataDir);
  const admin = await bootstrapAdminToken(opts.store, dataDir);
  if (admin.created) log.info({ file: admin.file }, 'admin token created');

  let view: FleetReader & { close?: () => Promise<void> };
  let reporter: FleetReporter | undefined;
  let unwatchStore: (() => void) | undefined;
  if (isFleet(opts.fleet)) {
    view = await opts.fleet.view();
    reporter = opts.fleet.reporter({ id: memberId('control', os.hostname(), process.pid, crypto.randomBytes(2).toString('hex')), kind: 'control', collect: () => ({}) });
    reporter.noteStoreVersion(opts.store.snapshot().version);
    unwatchStore = opts.store.watch((s) => reporter?.noteStoreVersion(s.version));
    reporter.start();
  } else view = opts.fleet;

  const jobs = await JobTracker.open({ dataDir, fleet: view, log, ...(opts.propagationTimeoutMs !== undefined ? { propagationTimeoutMs: opts.propagationTimeoutMs } : {}) });
  const service = new ControlService({
    store: opts.store,
    fleet: view,
    jobs,
    topicPrefix: opts.topicPrefix,
    log,
    archiveDir: opts.archiveDir ?? path.join(dataDir, 'archive'),
    metricsDir: opts.metricsDir ?? path.join(dataDir, 'metrics'),
    alarmsDir: opts.alarmsDir ?? path.join(dataDir, 'alarms'),
  });
  const consoleDir = path.resolve(root, opts.consoleDir ?? CONTROL_DEFAULTS.consoleDir);
  let server;
  try {
    server = await startControlServer({
      service,
      store: opts.store,
      host: opts.host,
      port: opts.port,
      brokers: opts.brokers,
      journalDir: opts.journalDir ?? path.join(dataDir, 'journal'),
      consoleDir,
      version: packageVersion(root),
      log,
    });
  } catch (err) {
    unwatchStore?.();
    await reporter?.stop();
    if (isFleet(opts.fleet)) await view.close?.();
    await jobs.close();
    throw err;
  }
  log.info({ url: server.url, consoleDir, adminTokenFile: admin.file }, 'control service listening');
  const topics =
    opts.brokers.length > 0 && opts.reconcileTopics !== false ? new TopicReconciler({ kafka: createReconcilerKafka(opts.brokers, log), topicPrefix: opts.topicPrefix, store: opts.store, log }) : undefined;
  // Not awaited: the API serves while Kafka is down; the reconciler logs and catches up.
  void topics?.start();
  let stopped: Promise<void> | undefined;
  return {
    url: server.url,
    adminTokenFile: admin.file,
    service,
    stop() {
      stopped ??= (async () => {
        await server.close();
        await topics?.stop();
        await jobs.close();
        unwatchStore?.();
        await reporter?.stop();
        // A view we opened is ours to close; one we were given is the caller's.
        if (isFleet(opts.fleet)) await view.close?.();
      })();
      return stopped;
    },
  };
}
