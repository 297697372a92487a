/**
 * The fleet: who runs where (daemons, pipeline workers, control services), which provisioning store
 * version each has applied, how busy it is, and the resource use the cost figure is derived from.
 * Members publish with a FleetReporter; the control service reads with a FleetView. Two transports,
 * chosen like the store's: a folder of files in embedded mode, a compacted Kafka topic in cluster mode.
 */
import type { Logger } from 'pino';
import { componentLogger } from '../../core/logger.js';
import { FileFleet } from './file-fleet.js';
import { KafkaFleet } from './kafka-fleet.js';
import { FleetReporter, type ReporterOptions } from './reporter.js';
import type { FleetTransport } from './transport.js';
import { FleetView, type FleetViewOptions } from './view.js';

/** Chosen like the store's (control/open-store.ts): the same object opens both. */
export type FleetOpenOptions =
  | { kind: 'file'; dataDir: string; log?: Logger }
  | { kind: 'kafka'; brokers: string[]; topicPrefix: string; replicationFactor?: number; clientId?: string; log?: Logger };

export interface Fleet {
  readonly kind: FleetOpenOptions['kind'];
  /** A member's heartbeat (not started: call `start()`). */
  reporter(opts: Omit<ReporterOptions, 'log'>): FleetReporter;
  /** Resolves once the members the fleet holds now are known. */
  view(opts?: FleetViewOptions): Promise<FleetView>;
  /** Closes the transport; stop reporters and close views first. */
  close(): Promise<void>;
}

export async function openFleet(opts: FleetOpenOptions): Promise<Fleet> {
  const log = componentLogger('fleet', opts.log);
  const transport: FleetTransport = opts.kind === 'file' ? new FileFleet(opts.dataDir, log) : new KafkaFleet({ ...opts, log });
  return {
    kind: opts.kind,
    reporter: (r) => new FleetReporter(transport, { ...r, log }),
    view: (v) => FleetView.open(transport, v),
    close: () => transport.close(),
  };
}

export { FleetReporter, type ReporterOptions } from './reporter.js';
export { FleetView, addUsage, type AgentStats, type FleetViewOptions } from './view.js';
export { FLEET_DEFAULTS } from './transport.js';
export {
  MemberMessageSchema,
  memberId,
  EMPTY_USAGE,
  type AgentReport,
  type AgentUsage,
  type FleetMember,
  type GatewayReport,
  type GraphReport,
  type MemberKind,
  type MemberMessage,
  type MemberState,
  type StreamUsage,
  type Usage,
} from './member.js';
export { costOf, CostRatesSchema, DEFAULT_COST_RATES, type CostRates, type CostReport, type CostInput } from './cost.js';
