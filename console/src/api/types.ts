// The control API's shapes, as docs/control-api.md describes them. The console only reads these;
// the service validates every input, so the console's job is to show its answers faithfully.

export type Scope = 'admin' | { provider: string };

export interface WhoAmI {
  scope: Scope;
  name?: string;
}

export interface Health {
  ok: boolean;
  version: number;
}

export interface Provider {
  name: string;
  description: string | null;
  createdAt: string;
  streams: number;
}

export interface StreamInput {
  name: string;
  provider?: string;
  partitions?: number;
  encrypt?: boolean;
  key?: string;
  rate?: number | null;
  retentionHours?: number | null;
  description?: string | null;
}

export type StreamPatch = Partial<Omit<StreamInput, 'name' | 'provider'>>;

export interface StreamUsage {
  records: number;
  bytes: number;
  cpuMs: number;
  agentCpuMs: number;
}

export interface StreamView {
  name: string;
  provider: string;
  partitions: number;
  encrypt: boolean;
  keyId: string | null;
  rate: number | null;
  retentionHours: number | null;
  description: string | null;
  createdAt: string;
  topic: string;
  graphs: string[];
  usage: StreamUsage;
  cost: number;
}

export interface NodeStats {
  in: number;
  out: number;
  errors: number;
  cpuMs: number;
  ratePerSec: number;
}

export interface GraphNodeView {
  id: string;
  type: string;
  inputs: string[];
  phase?: string;
}

export interface GraphView {
  name: string;
  /** Owner; null for an admin graph. */
  provider: string | null;
  /** The default graph (archives every stream no other graph takes); cannot be changed. */
  builtIn?: boolean;
  version: number;
  updatedAt: string;
  definition: GraphDefinition;
  streams: string[];
  nodes: GraphNodeView[];
  stats?: Record<string, NodeStats>;
}

/** A graph definition as written by a user (docs/pipeline.md); loosely typed on purpose. */
export interface GraphDefinition {
  name?: string;
  description?: string;
  streams?: string[];
  phases?: string[];
  nodes?: { id?: string; type?: string; inputs?: string[]; config?: unknown; phase?: string }[];
  [key: string]: unknown;
}

export interface GraphProblem {
  code: string;
  node?: string;
  path: string;
  message: string;
}

export interface AgentInfo {
  type: string;
  description: string;
  sink?: boolean;
  /** Output ports; the first is the default one. */
  outputs: string[];
  configSchema: unknown;
}

export interface CommitInfo {
  version: number;
  at: string;
  author: string;
  message: string;
  changes: string[];
}

export type JobState = 'pending' | 'validating' | 'committing' | 'propagating' | 'active' | 'failed';

export interface PropagationMember {
  id: string;
  kind: string;
  host: string;
  appliedAt: string | null;
}

export interface Job {
  id: string;
  kind: 'commit' | 'rollback';
  summary: string;
  author: string;
  provider?: string | null;
  state: JobState;
  reason: string | null;
  version: number | null;
  transitions: { state: JobState; at: string }[];
  createdAt: string;
  updatedAt: string;
  propagation: { members: PropagationMember[]; delayMs: number | null };
}

export interface GatewayStats {
  recordsIn: number;
  bytesIn: number;
  recordsOut: number;
  ratePerSec: number;
  journalBytes: number;
  journalUnackedBytes: number;
}

export interface PipelineGraphStats {
  version: number;
  state: string;
  lag: number | null;
  agents: Record<string, { in: number; out: number; errors: number; cpuMs: number }>;
}

export interface FleetMember {
  id: string;
  kind: 'daemon' | 'worker' | 'control';
  host: string;
  pid: number;
  instance?: string;
  provider?: string;
  mount?: string;
  storeVersion: number;
  seenAt: string;
  alive: boolean;
  gateway?: GatewayStats;
  pipeline?: { graphs: Record<string, PipelineGraphStats> };
}

export interface FleetView {
  members: FleetMember[];
}

export interface TailRecord {
  id: string;
  stream: string;
  class: string | null;
  instance: string;
  host: string;
  seq: number;
  ts: string | number;
  source: string;
  data: string;
  dataEncoding?: 'utf8' | 'base64';
  attrs?: Record<string, unknown>;
}

/** An archived record; the same fields as a tail record, and whatever else the archive keeps. */
export type ArchivedRecordView = TailRecord & { provider: string; time?: string; decrypted?: boolean };

export type ArchiveLevel = 'provider' | 'stream' | 'class' | 'instance' | 'hour';

export interface ArchiveTreeItem {
  /** The value for the next level's query parameter (hour: its ISO start). */
  key: string;
  label: string;
  records: number | null;
  bytes: number | null;
  segments: number;
  from: number | null;
  to: number | null;
  seq?: [number, number];
}

export interface ArchiveTree {
  archives: string[];
  level: ArchiveLevel;
  items: ArchiveTreeItem[];
}

/** `t` (bucket start, ms) and whatever values the metric computes: count, rate, sum, avg, … */
export type MetricPoint = { t: number } & Record<string, number>;

export interface MetricSeries {
  name: string;
  group: string | null;
  labels?: Record<string, string>;
  bucketMs: number;
  points: MetricPoint[];
}

export interface AlarmView {
  id: string;
  name: string;
  state: 'active' | 'resolved';
  firedAt: string;
  resolvedAt: string | null;
  instance: string | null;
  message: string;
  count: number;
  graph?: string;
  node?: string;
  value?: number | string | null;
  sampleRecordIds?: string[];
}

export interface ApiProblem {
  code: string;
  message: string;
  problems?: GraphProblem[];
}
