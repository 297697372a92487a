/**
 * archive: stores every record it receives in a named archive (browsable by provider, stream,
 * class, instance and time; pipeline/archive/, docs/archive.md), or relays them to a Kafka topic or
 * a TCP endpoint instead. A pure sink: its flush resolves once the records are stored (or
 * delivered), and the engine commits offsets only after that.
 */
import { z } from 'zod';
import { LogfsError } from '../../core/errors.js';
import { defineAgent, type ArchiveWriter } from '../agent.js';
import { parseHostPort, TcpRelay, TopicRelay } from '../archive/relay.js';

const TopicRelaySchema = z.strictObject({
  topic: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name is 1-249 letters, digits, ".", "_" or "-"')
    .describe('Kafka topic each record is produced to, as a MessagePack map (the wire record plus id, kind, fields, flags, graph, version), keyed by instance'),
});

const TcpRelaySchema = z.strictObject({
  tcp: z
    .string()
    .superRefine((s, ctx) => {
      try {
        parseHostPort(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .describe('host:port of a TCP endpoint that receives the records over one persistent connection'),
  format: z.literal('ndjson').default('ndjson').describe('Wire format: ndjson, one JSON line per record (the archive line format)'),
});

export const ArchiveConfigSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'archive names are 1-63 lower-case letters, digits and "-"')
      .default('default')
      .describe('Archive to store in: <data>/archive/<name>'),
    relay: z
      .union([TopicRelaySchema, TcpRelaySchema])
      .optional()
      .describe('Relay the records instead of storing them: { topic } for a Kafka topic, or { tcp: "host:port", format: ndjson }'),
  })
  .superRefine((c, ctx) => {
    if (c.relay && c.name !== 'default') {
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'name and relay exclude each other: a relaying archive node stores nothing' });
    }
  });
export type ArchiveConfig = z.infer<typeof ArchiveConfigSchema>;

export const archive = defineAgent<ArchiveConfig>({
  type: 'archive',
  description: 'Stores records in a named archive by provider, stream, class, instance and time, or relays them to a topic or TCP endpoint',
  configSchema: ArchiveConfigSchema,
  ports: () => [],
  sink: true,
  readsOnly: true,
  create(config, ctx) {
    const origin = { graph: ctx.graph, version: ctx.version };
    let writer: ArchiveWriter;
    let close: (() => Promise<void>) | undefined;
    const relay = config.relay;
    if (relay && 'topic' in relay) {
      const producer = ctx.services.topicProducer;
      if (!producer) {
        throw new LogfsError(
          'LOGFS_E_CONFIG',
          `archive node "${ctx.nodeId}" of graph "${ctx.graph}" relays to topic "${relay.topic}", but this worker runs without Kafka (embedded mode); relay over tcp or store the records instead`,
        );
      }
      writer = new TopicRelay(producer, relay.topic, ctx.log, ctx.services.keys);
    } else if (relay) {
      const tcp = ctx.services.tcpRelay?.(relay.tcp) ?? new TcpRelay({ ...parseHostPort(relay.tcp), log: ctx.log, ...(ctx.services.keys ? { keys: ctx.services.keys } : {}) });
      writer = tcp;
      close = () => tcp.close();
    } else {
      // The store is shared by every node archiving under this name and owned by the services.
      writer = ctx.services.archive(config.name);
    }
    return {
      process(batch) {
        writer.append(batch, origin);
      },
      flush: () => writer.flush(),
      close,
    };
  },
});
