/**
 * What logfsd tells the fleet (control/fleet): who it is (instance, provider, mount), its gateway's
 * counters and journal depth, and per stream what the gateway accepted and the time it took.
 */
import type { MemberState } from '../control/fleet/index.js';
import type { Gateway, InstanceIdentity } from '../gateway/index.js';

export const DAEMON_FLEET_DEFAULTS = {
  /** The rate is measured over at least this long, so an early report (a new store version) does not make it jump. */
  rateWindowMs: 900,
};

/** A `collect()` for the daemon's FleetReporter; without a gateway in this process (a separate one), no counters. */
export function daemonCollector(identity: InstanceIdentity, mount: string, gateway: Gateway | undefined): () => MemberState {
  let last: { at: number; recordsIn: number } | undefined;
  let ratePerSec = 0;
  return () => {
    const state: MemberState = { instance: identity.instance, provider: identity.provider, mount };
    if (!gateway) return state;
    const m = gateway.metrics.snapshot();
    const recordsIn = m['logfs_records_in_total'] ?? 0;
    const now = performance.now();
    if (!last) last = { at: now, recordsIn };
    else if (now - last.at >= DAEMON_FLEET_DEFAULTS.rateWindowMs) {
      ratePerSec = ((recordsIn - last.recordsIn) * 1000) / (now - last.at);
      last = { at: now, recordsIn };
    }
    state.gateway = {
      recordsIn,
      bytesIn: m['logfs_bytes_in_total'] ?? 0,
      recordsOut: m['logfs_records_out_total'] ?? 0,
      ratePerSec: Math.max(0, ratePerSec),
      journalBytes: m['logfs_journal_bytes'] ?? 0,
      journalUnackedBytes: m['logfs_journal_unacked_bytes'] ?? 0,
    };
    state.usage = { streams: gateway.streamUsage(), agents: {} };
    return state;
  };
}
