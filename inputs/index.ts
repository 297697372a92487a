/**
 * The socket inputs' public face: logfsd starts every configured input beside the mount with
 * `startInputs` and closes them before its gateway closes. Inputs are registered here explicitly.
 */
import { MetricsRegistry } from '../gateway/metrics.js';
import type { InputsConfig } from './config.js';
import type { InputContext, RunningInput } from './input.js';
import { startSocketInput, type SocketInput, type SocketInputStats } from './socket/index.js';
import { startSyslogInputs } from './syslog/syslog-input.js';

export { InputsConfigSchema, SyslogConfigSchema, type InputsConfig, type InputsConfigInput, type SyslogConfig } from './config.js';
export type { InputContext, RunningInput } from './input.js';

export interface InputsContext extends InputContext {
  /** logfsd's state directory (the unix datagram relay is built into `<data>/bin`). */
  dataDir: string;
  /**
   * The gateway's registry, so that the inputs' counters are served on its metrics endpoint; a
   * daemon with a separate gateway has none and the inputs keep their own.
   */
  metrics?: MetricsRegistry;
}

/** Starts every configured input; if one fails, those already started are closed again. */
export async function startInputs(config: InputsConfig, ctx: InputsContext): Promise<RunningInput[]> {
  const started: RunningInput[] = [];
  try {
    started.push(...(await startSyslogInputs(config.syslog, { ...ctx, metrics: ctx.metrics ?? new MetricsRegistry() })));
    if (config.socket) {
      const socket = await startSocketInput(config.socket, ctx);
      started.push(socket);
      if (ctx.metrics) exposeSocketStats(socket, ctx.metrics);
    }
  } catch (err) {
    await closeInputs(started);
    throw err;
  }
  return started;
}

/** The plain socket input's counters on the gateway's metrics endpoint, read when scraped. */
function exposeSocketStats(socket: SocketInput, metrics: MetricsRegistry): void {
  const stat = (name: keyof SocketInputStats, metric: string, help: string): void => metrics.gauge(metric, help, () => Number(socket.stats()[name] ?? 0));
  stat('connections', 'logfs_socket_connections', 'Plain socket clients connected now');
  stat('accepted', 'logfs_socket_accepted_total', 'Plain socket connections accepted');
  stat('rejectedBusy', 'logfs_socket_rejected_busy_total', 'Plain socket connections answered ERR busy (maxConnections)');
  stat('recordsIn', 'logfs_socket_records_total', 'Records received on the plain socket input');
  stat('bytesIn', 'logfs_socket_bytes_total', 'Bytes received on the plain socket input');
  stat('headerErrors', 'logfs_socket_header_errors_total', 'Connections closed for a bad header');
  stat('idleTimeouts', 'logfs_socket_idle_timeouts_total', 'Connections closed after stalling (header or inside a line)');
  stat('refusedFull', 'logfs_socket_refused_full_total', 'Connections closed with ERR full (journal full, onFull refuse)');
  stat('tlsErrors', 'logfs_socket_tls_errors_total', 'TLS handshakes that failed');
}

/** Every address listened on (an input with several listeners lists each), for logs and runtime.json. */
export function inputAddresses(inputs: RunningInput[]): string[] {
  return inputs.flatMap((i) => ('addresses' in i && Array.isArray(i.addresses) ? (i.addresses as string[]) : [i.address]));
}

/** Closes inputs in reverse order of start; a failing close is reported, the others still close. */
export async function closeInputs(inputs: RunningInput[]): Promise<Error[]> {
  const errors: Error[] = [];
  for (const input of [...inputs].reverse()) {
    try {
      await input.close();
    } catch (err) {
      errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return errors;
}
