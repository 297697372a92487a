/**
 * Which control API a logfsctl command talks to, and with which token (docs/cli.md, "Control API"):
 *
 * 1. `--api URL`, else LOGFS_API, else `api` in the config file (~/.config/logfs/config.json or
 *    LOGFS_CONFIG): a remote service. The token: `--token`, LOGFS_TOKEN, the config file's `token`.
 * 2. else the service of a `logfsctl up` running on `--data` (its runtime.json names the address),
 *    with the admin token it wrote to `<data>/admin.token`.
 * 3. else a control service started inside this command on the store of `--data`, for as long as
 *    the command runs: the same API and validation, so provisioning works before anything runs.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { z } from 'zod';
import { LogfsError } from '../core/errors.js';
import { readRuntime, type RuntimeInfo } from '../daemon/daemon.js';
import { ControlClient } from './control-client.js';

export interface ApiFlags {
  data: string;
  api?: string;
  token?: string;
}

const ClientConfigSchema = z.strictObject({
  api: z.string().url().optional().describe('Base URL of the control API'),
  token: z.string().min(1).optional().describe('API token (admin or provider scoped)'),
});

export function clientConfigFile(): string {
  return process.env.LOGFS_CONFIG ?? path.join(os.homedir(), '.config', 'logfs', 'config.json');
}

async function readClientConfig(): Promise<z.infer<typeof ClientConfigSchema>> {
  const file = clientConfigFile();
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return {};
  }
  const parsed = ClientConfigSchema.safeParse((() => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  })());
  if (!parsed.success) throw new LogfsError('LOGFS_E_CONFIG', `${file} must be JSON like {"api": "http://host:7480", "token": "…"}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export async function readAdminToken(dataDir: string): Promise<string | undefined> {
  try {
    return (await fsp.readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface ApiConnection {
  client: ControlClient;
  /** Where the client goes, for messages: `http://…` or `in-process (DATA)`. */
  describe: string;
  close(): Promise<void>;
}

export async function connectApi(flags: ApiFlags): Promise<ApiConnection> {
  const config = await readClientConfig();
  const explicit = flags.api ?? process.env.LOGFS_API ?? config.api;
  const envToken = flags.token ?? process.env.LOGFS_TOKEN;
  if (explicit) {
    return { client: new ControlClient(explicit, envToken ?? config.token), describe: explicit, close: async () => undefined };
  }
  const rt = await readRuntime(flags.data);
  if (rt?.api) {
    return { client: new ControlClient(rt.api, envToken ?? (await readAdminToken(flags.data))), describe: rt.api, close: async () => undefined };
  }
  return startInProcess(flags.data, envToken, rt);
}

async function startInProcess(dataDir: string, envToken: string | undefined, rt: RuntimeInfo | undefined): Promise<ApiConnection> {
  // Loaded here: a command that talks to a remote service need not load the service.
  const [{ startControl }, { controlPlaneAt, openStore }, { openFleet }] = await Promise.all([import('../control/index.js'), import('../control/open-store.js'), import('../control/fleet/index.js')]);
  const log = pino({ level: process.env.LOGFS_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  // Beside a logfsd of this data dir that has no API (plain logfsd): its store, its brokers.
  const brokers = rt?.brokers ?? [];
  const topicPrefix = rt?.topicPrefix ?? 'logfs';
  const where = controlPlaneAt(rt?.store ?? 'file', { dataDir, brokers, topicPrefix, log });
  const store = await openStore(where);
  const fleet = await openFleet(where);
  // One command's lifetime is too short to apply topic changes; a control service does that.
  const control = await startControl({ store, fleet, dataDir, host: '127.0.0.1', port: 0, brokers, topicPrefix, reconcileTopics: false, log });
  const token = envToken ?? (await readAdminToken(dataDir));
  return {
    client: new ControlClient(control.url, token),
    describe: `in-process (${dataDir})`,
    async close() {
      await control.stop();
      await fleet.close();
      await store.close();
    },
  };
}

/** Runs `fn` with a connection and closes it whatever happens. */
export async function withApi<T>(flags: ApiFlags, fn: (client: ControlClient) => Promise<T>): Promise<T> {
  const conn = await connectApi(flags);
  try {
    return await fn(conn.client);
  } finally {
    await conn.close();
  }
}
