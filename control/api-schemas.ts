/**
 * The control API's shapes (docs/control-api.md, "Shapes") as zod schemas: request bodies and query
 * strings are parsed with them (strict: unknown keys are problems, every problem reported), and the
 * OpenAPI document (control/http/openapi.ts) is generated from the same schemas, so the document
 * cannot drift from what the service accepts. Answers are described here too; the service builds
 * them with the inferred types.
 */
import { z } from 'zod';
import { PROVIDER_NAME, STREAM_NAME, STREAM_NAME_MAX_BYTES } from './stream-name.js';
import { AES_256_KEY } from './store-schema.js';
import { GRAPH_NAME } from '../pipeline/graph/graph-schema.js';

/** Schemas that get a name in the OpenAPI document's components. */
export const apiRegistry = z.registry<{ id: string; description?: string }>();

function named<T extends z.ZodType>(id: string, schema: T): T {
  apiRegistry.add(schema, { id });
  return schema;
}

const isoTime = z.string().describe('ISO 8601 time');

// Names as the service checks them (control/stream-name.ts, pipeline/graph/graph-schema.ts): in the
// schemas too, so that the OpenAPI document says which names are accepted and a bad one is refused
// at the boundary with its field's path.
/** A name rule's message that names the value it refused. */
const invalid = (what: string, rule: string) => ({ error: (iss: { input?: unknown }) => `${what} "${String(iss.input)}" is invalid: ${rule}` });
const providerName = z.string().regex(PROVIDER_NAME, invalid('provider name', 'use 1-63 lower-case letters, digits or "-", starting with a letter or digit'));
const streamName = z
  .string()
  .max(STREAM_NAME_MAX_BYTES, invalid('stream name', `at most ${STREAM_NAME_MAX_BYTES} bytes`))
  .regex(STREAM_NAME, invalid('stream name', 'each "/"-separated part must be non-empty and use only letters, digits and "-"'));
const graphName = z.string().regex(GRAPH_NAME, invalid('graph name', 'use 1-63 lower-case letters, digits or "-", starting with a letter'));
const archiveName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'an archive name is 1-63 lower-case letters, digits or "-"');

// ---------------------------------------------------------------------------------------------
// Inputs

export const ProviderScopeSchema = named('ProviderScope', z.strictObject({ provider: providerName.describe('Provider (tenant) name') }));
export const ScopeSchema = named(
  'Scope',
  z.union([z.literal('admin'), ProviderScopeSchema]).describe("'admin', or { provider } for a token that sees only that provider's streams and graphs"),
);

export const ProviderInputSchema = named(
  'ProviderInput',
  z.strictObject({
    name: providerName.describe('1-63 lower-case letters, digits or "-", starting with a letter or digit'),
    description: z.string().max(500).nullable().optional().describe('What the provider is'),
  }),
);

export const TokenInputSchema = named(
  'TokenInput',
  z.strictObject({
    name: z.string().min(1).max(100).describe('Who or what uses the token; commits made with it carry this name as author'),
    scope: ScopeSchema,
  }),
);

const streamFields = {
  partitions: z.number().int().min(1).max(1000).optional().describe('Kafka partitions of the stream topic (default 1); may only grow'),
  encrypt: z.boolean().optional().describe('Seal records before they leave the host (default false)'),
  key: z.string().regex(AES_256_KEY, 'a stream key is base64 of 32 bytes (44 characters ending in "=")').optional().describe('Stream key: base64 of 32 bytes. Generated when encrypt is set and the stream has no key. Never returned.'),
  rate: z.number().nonnegative().nullable().optional().describe('Estimated volume, records per second'),
  retentionHours: z.number().positive().nullable().optional().describe('How long Kafka keeps the records; null: the broker default'),
  description: z.string().max(500).nullable().optional().describe('What the stream is for'),
};

export const StreamInputSchema = named(
  'StreamInput',
  z.strictObject({
    name: streamName.describe('Stream name: "/"-separated parts of letters, digits and "-"'),
    provider: providerName.optional().describe("Owner; admin tokens only (default \"default\"); a provider token always creates its own provider's streams"),
    ...streamFields,
  }),
);

export const StreamPatchSchema = named('StreamPatch', z.strictObject(streamFields));

const definition = z.record(z.string(), z.unknown()).describe('Graph definition (docs/graphs.md): name, streams, phases, nodes');

export const GraphApplySchema = named(
  'GraphApply',
  z.strictObject({
    definition,
    provider: providerName.optional().describe("Owner of the graph; admin tokens only (default: none, an admin graph). A provider token's graphs are its provider's."),
  }),
);

export const GraphValidateSchema = named(
  'GraphValidate',
  z.strictObject({
    definition: z.unknown().describe('Graph definition to check'),
    provider: providerName.optional().describe('Check as a graph of this provider (admin tokens only)'),
  }),
);

export const AssignStreamsSchema = named(
  'AssignStreams',
  z.strictObject({ streams: z.array(streamName).describe('Every stream the graph takes from now on (replaces the list)') }),
);

export const EditSchema = named(
  'Edit',
  z.discriminatedUnion('op', [
    z.strictObject({ op: z.literal('createStream'), stream: StreamInputSchema }),
    z.strictObject({ op: z.literal('updateStream'), name: streamName, patch: StreamPatchSchema }),
    z.strictObject({ op: z.literal('deleteStream'), name: streamName }),
    z.strictObject({ op: z.literal('applyGraph'), definition, provider: providerName.optional() }),
    z.strictObject({ op: z.literal('deleteGraph'), name: graphName }),
    z.strictObject({ op: z.literal('assignStreams'), graph: graphName, streams: z.array(streamName) }),
    z.strictObject({ op: z.literal('createProvider'), name: providerName, description: z.string().max(500).nullable().optional() }),
    z.strictObject({ op: z.literal('deleteProvider'), name: providerName }),
  ]),
);
export type Edit = z.infer<typeof EditSchema>;

export const CommitInputSchema = named(
  'CommitInput',
  z.strictObject({
    message: z.string().max(1000).optional().describe('Why; shown in the history'),
    edits: z.array(EditSchema).min(1).max(1000).describe('Applied in order, all or none'),
  }),
);

export const RollbackInputSchema = named(
  'RollbackInput',
  z.strictObject({ version: z.number().int().min(0).describe('Store version whose streams, graphs and providers become current again') }),
);

// Query strings: every value arrives as text. A number is decimal digits only ("1e3", "0x10", " "
// and "" are refused, not coerced); the document shows it as the integer it stands for.
const intText = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,15}$/, 'expected a whole number in decimal digits')
    .pipe(z.coerce.number<string>().int().min(min).max(max));

export const VersionParamsSchema = z.strictObject({ version: intText(0, 999_999_999_999_999).describe('Store version') });
export const LimitQuerySchema = z.strictObject({ limit: intText(1, 1000).optional().describe('At most this many (default 100)') });
export const JobQuerySchema = z.strictObject({ wait: z.enum(['active']).optional().describe('Wait up to 30 s for a final state (active or failed)') });
export const TailQuerySchema = z.strictObject({
  from: z.enum(['beginning', 'end']).optional().describe('Start at the oldest record kept, or (default) only new ones'),
  class: z.string().optional().describe('Only records with this class label'),
  token: z.string().optional().describe('The token, for EventSource, which cannot set headers'),
});
// The forms parseTimeParam (control/http/routes.ts) reads, bounded so that every one is a valid
// Date: at most 15 digits of epoch ms, at most 8 digits of a relative amount (1e8 days < 2.7e5 years).
const timeText = z
  .union([
    z.literal('now'),
    z.string().regex(/^-?\d{1,8}(\.\d{1,3})?(ms|s|m|h|d)$/),
    z.string().regex(/^\d{10,15}$/),
    z.iso.datetime({ offset: true, local: true }),
    z.iso.date(),
  ], { error: 'expected an ISO time, milliseconds since the epoch, now, or a relative time (-15m, -2h, -1d)' })
  .describe('ISO time, milliseconds since the epoch, now, or relative to now (-15m, -2h, -1d)');
export const ArchiveQuerySchema = z.strictObject({
  archive: archiveName.optional().describe('Archive name (default "default")'),
  provider: z.string().optional().describe('Only this provider (admin tokens; a provider token sees its own)'),
  stream: z.string().optional().describe('A stream, or streams under a prefix ending in "/"'),
  class: z.string().optional().describe('Only this class label; the empty string selects records without one'),
  instance: z.string().optional(),
  from: timeText.optional(),
  to: timeText.optional(),
  grep: z.string().max(1000).optional().describe('Only records whose data matches this regular expression'),
  limit: intText(1, 1000).optional().describe('Records per page (default 100)'),
  after: z.string().optional().describe("The previous page's next cursor"),
});
export const ArchiveTreeQuerySchema = z.strictObject({
  archive: archiveName.optional().describe('Archive name (default "default")'),
  provider: z.string().optional(),
  stream: z.string().optional(),
  class: z.string().optional().describe('The empty string selects records without a class'),
  instance: z.string().optional(),
});
export const MetricsQuerySchema = z.strictObject({
  name: z.string().optional().describe('Metric name; * matches any characters (default: every metric)'),
  group: z.string().optional().describe('Label selector: label=value[,label=value]'),
  from: timeText.optional().describe('Buckets starting at or after (default -1h)'),
  to: timeText.optional(),
  bucketMs: intText(1, 86_400_000).optional().describe('Only buckets of this size'),
});
export const AlarmsQuerySchema = z.strictObject({
  state: z.enum(['active', 'resolved', 'all']).optional().describe('Default all'),
  limit: intText(1, 10_000).optional(),
});

// ---------------------------------------------------------------------------------------------
// Answers

export const ErrorSchema = named(
  'Error',
  z.strictObject({
    error: z.strictObject({
      code: z.string().describe('LOGFS_E_*'),
      message: z.string(),
      problems: z.array(z.lazy(() => ProblemSchema)).optional(),
      job: z.string().optional().describe('The failed job, when the request started one'),
    }),
  }),
);

export const ProblemSchema = named(
  'Problem',
  z.strictObject({
    code: z.string().describe('Graph problem code (unknown-type, cycle, …), invalid-input, or a LOGFS_E_* code'),
    node: z.string().optional(),
    path: z.string().describe('Dotted path of the offending field ("" for the whole)'),
    message: z.string(),
    edit: z.number().int().optional().describe('Index of the edit in a commit'),
  }),
);

export const HealthSchema = named('Health', z.strictObject({ ok: z.literal(true), version: z.number().int().describe('Store version') }));
export const WhoamiSchema = named('Whoami', z.strictObject({ scope: ScopeSchema, name: z.string() }));
export const OkSchema = named('Ok', z.strictObject({ ok: z.literal(true) }));

export const ProviderSchema = named(
  'Provider',
  z.strictObject({ name: z.string(), description: z.string().nullable(), createdAt: isoTime, streams: z.number().int() }),
);

export const TokenInfoSchema = named('TokenInfo', z.strictObject({ id: z.string(), name: z.string(), scope: ScopeSchema, createdAt: isoTime }));
export const TokenCreatedSchema = named(
  'TokenCreated',
  z.strictObject({ token: TokenInfoSchema, secret: z.string().describe('The token; shown this once, stored only as a hash') }),
);

export const UsageViewSchema = named(
  'StreamUsage',
  z.strictObject({
    records: z.number(),
    bytes: z.number(),
    cpuMs: z.number().describe('Gateway CPU time'),
    agentCpuMs: z.number().describe("CPU time of the agents of the graphs taking the stream, shared among a graph's streams by records"),
  }),
);

export const StreamViewSchema = named(
  'StreamView',
  z.strictObject({
    name: z.string(),
    provider: z.string(),
    partitions: z.number().int(),
    encrypt: z.boolean(),
    keyId: z.string().nullable().describe('First 16 hex digits of SHA-256 of the key bytes; never the key'),
    rate: z.number().nullable(),
    retentionHours: z.number().nullable(),
    description: z.string().nullable(),
    createdAt: isoTime,
    topic: z.string(),
    graphs: z.array(z.string()).describe('Graphs taking the stream ("default" when no other does)'),
    usage: UsageViewSchema,
    cost: z.number().describe('Cost units (docs/cost.md)'),
  }),
);

export const AgentStatsSchema = named(
  'AgentStats',
  z.strictObject({ in: z.number(), out: z.number(), errors: z.number(), cpuMs: z.number(), ratePerSec: z.number() }),
);

export const GraphViewSchema = named(
  'GraphView',
  z.strictObject({
    name: z.string(),
    provider: z.string().nullable().describe('Owner; null for an admin graph'),
    version: z.number().int(),
    updatedAt: z.string(),
    builtIn: z.boolean().describe('The default graph: archives every stream no other graph takes; cannot be changed'),
    definition: z.record(z.string(), z.unknown()),
    streams: z.array(z.string()),
    nodes: z.array(z.strictObject({ id: z.string(), type: z.string(), inputs: z.array(z.string()), phase: z.string() })),
    stats: z.record(z.string(), AgentStatsSchema).optional().describe('By node id, summed over the workers running the graph'),
  }),
);

export const ValidationResultSchema = named('ValidationResult', z.strictObject({ ok: z.boolean(), problems: z.array(ProblemSchema) }));

export const AgentInfoSchema = named(
  'AgentInfo',
  z.strictObject({
    type: z.string(),
    description: z.string(),
    sink: z.boolean(),
    outputs: z.array(z.string()).describe('Output ports with the default config; the first is the default one'),
    configSchema: z.record(z.string(), z.unknown()).describe('JSON Schema of the config'),
  }),
);

export const CommitInfoSchema = named(
  'CommitInfo',
  z.strictObject({ version: z.number().int(), at: isoTime, author: z.string(), message: z.string(), changes: z.array(z.string()) }),
);

export const HistoryEntrySchema = named(
  'HistoryEntry',
  z.strictObject({
    commit: CommitInfoSchema,
    state: z
      .strictObject({
        version: z.number().int(),
        streams: z.record(z.string(), z.record(z.string(), z.unknown())),
        graphs: z.record(z.string(), z.record(z.string(), z.unknown())),
        providers: z.record(z.string(), z.record(z.string(), z.unknown())),
      })
      .describe('The state at that version; stream keys are shown as keyId, tokens left out'),
  }),
);

export const JobStateSchema = z.enum(['pending', 'validating', 'committing', 'propagating', 'active', 'failed']);

export const JobSchema = named(
  'Job',
  z.strictObject({
    id: z.string(),
    kind: z.enum(['commit', 'rollback']),
    summary: z.string(),
    author: z.string(),
    provider: z.string().nullable().describe("The author's provider; null for admin tokens"),
    state: JobStateSchema,
    reason: z.string().nullable(),
    version: z.number().int().nullable().describe('The committed store version'),
    transitions: z.array(z.strictObject({ state: JobStateSchema, at: isoTime })),
    createdAt: isoTime,
    updatedAt: isoTime,
    propagation: z.strictObject({
      members: z.array(z.strictObject({ id: z.string(), kind: z.string(), host: z.string(), appliedAt: isoTime.nullable() })),
      delayMs: z.number().nullable().describe('Commit to the last member report'),
    }),
  }),
);

export const FleetSchema = named(
  'Fleet',
  z.strictObject({ members: z.array(z.record(z.string(), z.unknown()).describe('FleetMember (docs/control-api.md)')) }),
);

export const ArchivedRecordViewSchema = named(
  'ArchivedRecordView',
  z
    .object({
      id: z.string(),
      provider: z.string(),
      stream: z.string(),
      class: z.string().nullable(),
      instance: z.string(),
      host: z.string(),
      seq: z.number(),
      ts: z.number(),
      time: z.string(),
      data: z.string(),
      dataEncoding: z.enum(['base64']).optional(),
      enc: z.string().optional().describe('Present while the data is still sealed (A256GCM): the service has no usable key'),
      kid: z.string().optional(),
      sealed: z.string().optional().describe('Why the data could not be opened'),
    })
    .describe('An archived record (docs/archive.md, "Line format")'),
);

export const ArchivePageSchema = named(
  'ArchivePage',
  z.strictObject({ records: z.array(ArchivedRecordViewSchema), next: z.string().optional().describe('Cursor of the next page (after=)') }),
);

export const ArchiveTreeSchema = named(
  'ArchiveTree',
  z.strictObject({
    archives: z.array(z.string()).describe('Archive names present'),
    level: z.enum(['provider', 'stream', 'class', 'instance', 'hour']),
    items: z.array(
      z.strictObject({
        key: z.string().describe('The value to pass as the next level\'s query parameter (hour: ISO start)'),
        label: z.string(),
        records: z.number().nullable().describe('Exact when the index has it, else null'),
        bytes: z.number().nullable(),
        segments: z.number().int(),
        from: z.number().nullable().describe('Earliest record ts (ms)'),
        to: z.number().nullable().describe('Latest record ts (ms)'),
        // Two numbers as an array of length 2, not z.tuple: the same values, but prefixItems (2020-12)
        // is misread as a draft-4 tuple by some OpenAPI tools (schemathesis 4.32 refuses the document).
        seq: z.array(z.number()).length(2).optional().describe('instance level: first and last seq'),
      }),
    ),
  }),
);

export const MetricSeriesSchema = named(
  'MetricSeries',
  z.strictObject({
    name: z.string(),
    group: z.string().nullable().describe('label=value,… or null'),
    labels: z.record(z.string(), z.string()),
    bucketMs: z.number(),
    points: z.array(z.record(z.string(), z.number()).describe('{ t, count, sum, min, max, avg, rate, … }: the values the metric computes')),
  }),
);
export const MetricsAnswerSchema = named('MetricsAnswer', z.strictObject({ series: z.array(MetricSeriesSchema) }));

export const AlarmViewSchema = named(
  'AlarmView',
  z.strictObject({
    id: z.string(),
    name: z.string(),
    state: z.enum(['active', 'resolved']),
    firedAt: isoTime,
    resolvedAt: isoTime.nullable(),
    instance: z.string().nullable(),
    message: z.string(),
    count: z.number().int().describe('Firing events in this episode'),
    graph: z.string(),
    node: z.string(),
    value: z.union([z.number(), z.string()]).nullable(),
    sampleRecordIds: z.array(z.string()),
  }),
);

export const TailRecordSchema = named(
  'TailRecord',
  z.object({
    id: z.string().describe('instance:seq'),
    stream: z.string(),
    class: z.string().nullable(),
    instance: z.string(),
    host: z.string(),
    seq: z.number(),
    ts: z.number(),
    source: z.string(),
    data: z.string(),
    dataEncoding: z.enum(['utf8', 'base64']),
    enc: z.string().optional().describe('Present while the data is still sealed'),
    kid: z.string().optional(),
    sealed: z.string().optional().describe('Why the data could not be opened'),
  }),
);

export type ProviderView = z.infer<typeof ProviderSchema>;
export type TokenInfo = z.infer<typeof TokenInfoSchema>;
export type StreamView = z.infer<typeof StreamViewSchema>;
export type GraphView = z.infer<typeof GraphViewSchema>;
export type Problem = z.infer<typeof ProblemSchema>;
export type AgentInfo = z.infer<typeof AgentInfoSchema>;
export type CommitInfoView = z.infer<typeof CommitInfoSchema>;
export type JobView = z.infer<typeof JobSchema>;
export type JobState = z.infer<typeof JobStateSchema>;
export type StreamInput = z.infer<typeof StreamInputSchema>;
export type StreamPatch = z.infer<typeof StreamPatchSchema>;
export type ArchiveTree = z.infer<typeof ArchiveTreeSchema>;
export type MetricSeries = z.infer<typeof MetricSeriesSchema>;
export type AlarmView = z.infer<typeof AlarmViewSchema>;
