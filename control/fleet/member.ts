/**
 * What a fleet member (a logfsd, a pipeline worker, a control service) says about itself, as it
 * travels (file or Kafka message) and as the control API shows it (docs/control-api.md,
 * `FleetMember`). Parsed with a strict schema when read: a member of another version that sends
 * something else is reported and skipped, not half-understood.
 */
import { z } from 'zod';

export const MEMBER_KINDS = ['daemon', 'worker', 'control'] as const;
export type MemberKind = (typeof MEMBER_KINDS)[number];

const count = z.number().nonnegative();

export const GatewayReportSchema = z.strictObject({
  recordsIn: count.describe('Records accepted since the process started'),
  bytesIn: count.describe('Bytes of record data accepted since the process started'),
  recordsOut: count.describe('Records acknowledged by Kafka since the process started (0 in embedded mode)'),
  ratePerSec: count.describe('Records accepted per second between the last two heartbeats'),
  journalBytes: count.describe('Bytes in journal segments now'),
  journalUnackedBytes: count.describe('Journal bytes not yet acknowledged by Kafka now'),
});
export type GatewayReport = z.infer<typeof GatewayReportSchema>;

export const AgentReportSchema = z.strictObject({
  in: count.describe('Records the agent took, this graph version'),
  out: count.describe('Records the agent emitted on any port, this graph version'),
  errors: count.describe('Records it failed on, and sink flush retries'),
  cpuMs: count.describe('CPU time spent in the agent, this graph version'),
});
export type AgentReport = z.infer<typeof AgentReportSchema>;

export const GraphReportSchema = z.strictObject({
  version: z.number().int().nonnegative().describe('Graph version this member runs'),
  state: z.enum(['starting', 'running', 'failed', 'stopped']),
  lag: count.nullable().describe('Records (Kafka) or journal entries (embedded) not yet processed; null when unknown'),
  error: z.string().nullable().default(null).describe('Why the graph failed, or why a newer version was refused ("version N rejected: …")'),
  agents: z.record(z.string(), AgentReportSchema).describe('By node id'),
});
export type GraphReport = z.infer<typeof GraphReportSchema>;

export const StreamUsageSchema = z.strictObject({
  records: count,
  bytes: count,
  cpuMs: count.describe('CPU time the gateway spent accepting the stream\'s records'),
});
export type StreamUsage = z.infer<typeof StreamUsageSchema>;

export const AgentUsageSchema = z.strictObject({
  records: count,
  cpuMs: count,
});
export type AgentUsage = z.infer<typeof AgentUsageSchema>;

/** Cumulative since the member started (every graph version included), for the cost figure (docs/cost.md). */
export const UsageSchema = z.strictObject({
  streams: z.record(z.string(), StreamUsageSchema).describe('By stream name: gateway work'),
  agents: z.record(z.string(), AgentUsageSchema).describe('By "graph/node": pipeline work'),
});
export type Usage = z.infer<typeof UsageSchema>;

/** What a member publishes; the view adds `alive`. */
export const MemberMessageSchema = z.strictObject({
  id: z.string().min(1).max(255),
  kind: z.enum(MEMBER_KINDS),
  host: z.string(),
  pid: z.number().int(),
  instance: z.string().optional(),
  provider: z.string().optional(),
  mount: z.string().optional(),
  storeVersion: z.number().int().nonnegative().describe('Last provisioning store version the member applied'),
  seenAt: z.string().describe('ISO time the member sent this'),
  gateway: GatewayReportSchema.optional(),
  pipeline: z.strictObject({ graphs: z.record(z.string(), GraphReportSchema) }).optional(),
  usage: UsageSchema,
});
export type MemberMessage = z.infer<typeof MemberMessageSchema>;

export type FleetMember = MemberMessage & {
  /** Heard from within the last `FLEET_DEFAULTS.staleMs`. */
  alive: boolean;
};

/** What a member's `collect()` returns at each heartbeat; the reporter adds identity and times. */
export type MemberState = Partial<Pick<MemberMessage, 'instance' | 'provider' | 'mount' | 'gateway' | 'pipeline' | 'usage'>>;

export const EMPTY_USAGE: Usage = Object.freeze({ streams: Object.freeze({}), agents: Object.freeze({}) }) as Usage;

/** Member ids become file names and Kafka keys: keep them to a portable alphabet. */
export function memberId(...parts: (string | number)[]): string {
  return parts.map((p) => String(p).replace(/[^A-Za-z0-9._-]/g, '_')).join('-');
}
