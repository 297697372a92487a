/**
 * Gateway configuration: one strict schema (unknown keys rejected, every field described) with its
 * defaults in the schema itself, parsed once at the boundary. docs/configuration.md lists it.
 */
import os from 'node:os';
import { z } from 'zod';
import { LogfsError } from '../core/errors.js';
import { PROVIDER_NAME } from '../control/stream-name.js';
import { JOURNAL_DEFAULTS } from './journal.js';
import { lz4Available, LZ4_UNAVAILABLE } from './lz4.js';
import { WIRE_NO_GZIP } from './kafka-wire/wire-producer.js';

const KafkaSchema = z.strictObject({
  brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).default([])
    .describe('Bootstrap brokers; empty = embedded mode (the journal is the bus)'),
  clientId: z.string().default('logfs-gateway').describe('Kafka client id'),
  // prefault: a bad LOGFS_KAFKA_CLIENT is reported like any other invalid setting.
  client: z.enum(['kafkajs', 'wire']).prefault((process.env.LOGFS_KAFKA_CLIENT ?? 'wire') as 'wire')
    .describe('Producer that ships records: the built-in wire producer (gateway/kafka-wire/, 2-3x the records/s of kafkajs at a third of its CPU), or kafkajs (needed for gzip); default wire, or LOGFS_KAFKA_CLIENT'),
  // lz4 by default: a quarter to a half of the broker's CPU per record, and under a quarter of its
  // disk (docs/kafka.md "Compression"); none when the native module was built without liblz4,
  // which cannot write it.
  compression: z.enum(['none', 'lz4', 'gzip']).default(lz4Available ? 'lz4' : 'none')
    .describe('Compression of produced batches: lz4 (the default; wire or kafkajs client; needs the native module built with liblz4, else the default is none), none, or gzip (kafkajs client only)'),
  topicPrefix: z.string().regex(/^[A-Za-z0-9-]{1,20}$/, 'letters, digits and "-", at most 20').default('logfs').describe('First part of every stream topic name'),
  replicationFactor: z.number().int().min(1).default(1).describe('Replication factor of topics created at provisioning'),
  // 40,000 and 8 MiB: 8-17 % more 64 KiB writes per second into Kafka than 10,000 and 4 MiB (means
  // of two sets of alternating benchmark runs), the broker at about a quarter less CPU
  // (docs/kafka.md "Batching").
  batchMaxRecords: z.number().int().min(1).default(40_000).describe('Most records in one produce request'),
  lingerMs: z.number().int().min(0).max(1000).default(2)
    .describe('After the journal was empty, wait this long for more records before producing (0 = at once)'),
  batchMaxBytes: z.number().int().min(1024).default(8 * 1024 * 1024)
    .describe('Most bytes in one produce request; must stay below the topics\' max.message.bytes'),
  topicMaxMessageBytes: z.number().int().min(1024 * 1024).default(16 * 1024 * 1024)
    .describe('max.message.bytes of topics created at provisioning (a record batch of one instance is one Kafka message)'),
  requestTimeoutMs: z.number().int().min(100).default(30_000).describe('Produce request timeout'),
  connectionTimeoutMs: z.number().int().min(100).default(3_000).describe('Broker connection timeout'),
}).superRefine((k, ctx) => {
  if (k.client === 'wire' && k.compression === 'gzip') {
    ctx.addIssue({ code: 'custom', path: ['compression'], message: WIRE_NO_GZIP });
  }
  if (k.compression === 'lz4' && !lz4Available) ctx.addIssue({ code: 'custom', path: ['compression'], message: LZ4_UNAVAILABLE });
});

const JournalSchema = z.strictObject({
  dir: z.string().optional().describe('Journal directory; default <data>/journal'),
  segmentBytes: z.number().int().min(4096).default(JOURNAL_DEFAULTS.segmentBytes).describe('Segment roll size'),
  maxBytes: z.number().int().min(4096).default(JOURNAL_DEFAULTS.maxBytes)
    .describe('Bound on bytes not yet acknowledged by Kafka; at the bound writers block or are refused'),
  retainBytes: z.number().int().min(4096).default(JOURNAL_DEFAULTS.retainBytes)
    .describe('Embedded mode: bytes of history kept for readers'),
  fsync: z.enum(['always', 'interval', 'barrier']).default(JOURNAL_DEFAULTS.fsync)
    .describe('When the journal fsyncs: every write batch, on a timer, or only when fsync()/close() ask'),
  fsyncIntervalMs: z.number().int().min(1).default(JOURNAL_DEFAULTS.fsyncIntervalMs).describe('Timer for fsync "interval"'),
  cacheBytes: z.number().int().min(0).optional()
    .describe('Recent entries kept in memory for readers of the journal in logfsd (the embedded pipeline); default 4 MiB in embedded mode and 0 with Kafka, where nothing in logfsd reads them (the Kafka shipper reads the segment files)'),
  maxPendingBytes: z.number().int().min(64 * 1024).default(JOURNAL_DEFAULTS.maxPendingBytes)
    .describe('Bound on records in memory not yet written to the journal file; at it writers wait as at maxBytes'),
  writebackBytes: z.number().int().min(0).default(JOURNAL_DEFAULTS.writebackBytes)
    .describe('Start writing each segment to disk every this many bytes, without waiting, so that fsync finds less left to write (0 = off, the default)'),
});

const InstanceSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/).optional().describe('Instance ID; wins over everything else'),
  metadataUrl: z.url().optional().describe('Cloud metadata endpoint answering the instance ID as text'),
  metadataTimeoutMs: z.number().int().min(1).default(1_000).describe('Timeout of the metadata request'),
  machineIdFile: z.string().default('/etc/machine-id').describe('Fallback source of the instance ID'),
});

const RemoteInstanceSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/).describe('Instance ID this socket or credential stands for'),
  socket: z.string().describe('Unix socket path the instance connects to'),
  credential: z.string().min(16).optional().describe('Shared secret the client must present, besides the path'),
  provider: z.string().regex(PROVIDER_NAME, 'lower-case letters, digits and "-", at most 63').optional()
    .describe('Provider of this instance; default the gateway provider'),
});

export const GatewayConfigSchema = z.strictObject({
  provider: z.string().regex(PROVIDER_NAME, 'lower-case letters, digits and "-", at most 63').default('default').describe('Tenant of this host'),
  host: z.string().min(1).default(os.hostname()).describe('Host name stamped on records'),
  instance: InstanceSchema.prefault({}),
  durability: z.enum(['journal', 'kafka']).default('journal')
    .describe('What fsync()/close() wait for: the journal fsync, or the Kafka acknowledgement (acks=all)'),
  onFull: z.enum(['block', 'refuse']).default('block')
    .describe('At the journal bound: block writers (backpressure), or fail writes with ENOSPC and count them'),
  journal: JournalSchema.prefault({}),
  kafka: KafkaSchema.prefault({}),
  metricsListen: z.string().regex(/^[^:\s]+:\d+$/).nullable().default('127.0.0.1:9464')
    .describe('host:port of the Prometheus endpoint; null turns it off'),
  remoteInstances: z.array(RemoteInstanceSchema).default([])
    .describe('Separate gateway process: one unix socket per instance'),
});

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;

/** Parses configuration, reporting every problem at once with its path. */
export function parseGatewayConfig(input: unknown): GatewayConfig {
  const parsed = GatewayConfigSchema.safeParse(input ?? {});
  if (!parsed.success) throw configError('gateway', parsed.error);
  return parsed.data;
}

export function configError(what: string, error: z.ZodError): LogfsError {
  const lines = error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
  return new LogfsError('LOGFS_E_CONFIG', `invalid ${what} configuration:\n${lines.join('\n')}`, {
    context: { issues: error.issues },
  });
}
