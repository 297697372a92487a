/**
 * What every socket input (syslog, plain socket) gets from logfsd and gives back. Inputs sit beside
 * the FUSE mount: they turn what arrives on a socket into lines for the same gateway (IngestSink),
 * with `source` syslog or socket, and they respect its backpressure (isFull/waitForRoom/refusing).
 */
import type { Logger } from 'pino';
import type { ProvisioningStore } from '../control/store.js';
import type { IngestSink, InstanceIdentity } from '../gateway/index.js';

export interface InputContext {
  sink: IngestSink;
  /** This host's instance and provider: inputs write as the host they run on. */
  identity: InstanceIdentity;
  /** Provisioned streams (routing checks that a stream exists). */
  store: ProvisioningStore;
  log: Logger;
}

export interface RunningInput {
  /** What it listens on, for logs and runtime.json: `udp://127.0.0.1:5514`, `unix:///dev/log`, … */
  readonly address: string;
  /** Stops accepting, finishes what was received (durably, as the gateway's policy says) and closes. */
  close(): Promise<void>;
}
