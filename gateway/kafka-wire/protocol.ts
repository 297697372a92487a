/**
 * The few Kafka requests the wire producer speaks, in their non-flexible versions (no tagged
 * fields, no compact strings): ApiVersions, Metadata, InitProducerId and Produce.
 * Field layouts follow the Kafka protocol guide (https://kafka.apache.org/protocol#protocol_messages).
 * Every request uses request header v1 and every response header v0 (correlation id only), which
 * holds for all non-flexible versions.
 */
import { LogfsError } from '../../core/errors.js';

export const ApiKey = { Produce: 0, Metadata: 3, ApiVersions: 18, InitProducerId: 22 } as const;
export type ApiKeyValue = (typeof ApiKey)[keyof typeof ApiKey];

/**
 * Newest non-flexible version of each request that this module encodes, and the oldest it knows.
 * Produce v9, Metadata v9 and InitProducerId v2 switched to the flexible encoding.
 */
export const KNOWN_VERSIONS: Record<ApiKeyValue, { min: number; max: number }> = {
  [ApiKey.Produce]: { min: 3, max: 8 },
  [ApiKey.Metadata]: { min: 1, max: 8 },
  [ApiKey.ApiVersions]: { min: 0, max: 0 },
  [ApiKey.InitProducerId]: { min: 0, max: 1 },
};

/** Error codes the producer treats specially (https://kafka.apache.org/protocol#protocol_error_codes). */
export const ErrorCode = {
  NONE: 0,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  MESSAGE_TOO_LARGE: 10,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  DUPLICATE_SEQUENCE_NUMBER: 46,
  INVALID_PRODUCER_EPOCH: 47,
  UNKNOWN_PRODUCER_ID: 59,
  FENCED_LEADER_EPOCH: 74,
} as const;

const ERROR_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ErrorCode).map(([k, v]) => [v, k]));

export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `KAFKA_ERROR_${code}`;
}

/** A Kafka error code or a broken connection; `type` is kafkajs' name for the same condition. */
export class KafkaWireError extends LogfsError {
  readonly type: string;
  constructor(message: string, opts: { errorCode?: number; retriable?: boolean; cause?: unknown } = {}) {
    super('LOGFS_E_KAFKA', message, { retriable: opts.retriable ?? true, cause: opts.cause, context: { errorCode: opts.errorCode } });
    this.type = opts.errorCode === undefined ? 'CONNECTION' : errorName(opts.errorCode);
  }
}

/** Growable big-endian writer for the small parts of requests (headers, metadata requests). */
export class Writer {
  private buf: Buffer;
  private o = 0;

  constructor(size = 64) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(next, 0, 0, this.o);
    this.buf = next;
  }

  int8(v: number): this {
    this.room(1);
    this.o = this.buf.writeInt8(v, this.o);
    return this;
  }

  int16(v: number): this {
    this.room(2);
    this.o = this.buf.writeInt16BE(v, this.o);
    return this;
  }

  int32(v: number): this {
    this.room(4);
    this.o = this.buf.writeInt32BE(v, this.o);
    return this;
  }

  int64(v: number): this {
    this.room(8);
    this.o = this.buf.writeBigInt64BE(BigInt(v), this.o);
    return this;
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  /** A nullable string: int16 length (-1 for null), then UTF-8 bytes. */
  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const len = Buffer.byteLength(s);
    this.int16(len);
    this.room(len);
    this.o += this.buf.write(s, this.o, 'utf8');
    return this;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.o);
  }
}

/** Big-endian reader of one response; reading past the end is a protocol error (not retried as data). */
export class Reader {
  o = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.o + n > this.buf.length) throw new KafkaWireError(`Kafka response truncated at byte ${this.o} of ${this.buf.length}`);
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.o++);
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.o);
    this.o += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.o);
    this.o += 4;
    return v;
  }

  int64(): number {
    this.need(8);
    const v = Number(this.buf.readBigInt64BE(this.o));
    this.o += 8;
    return v;
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  string(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    this.need(len);
    const s = this.buf.toString('utf8', this.o, this.o + len);
    this.o += len;
    return s;
  }

  array<T>(item: (r: Reader) => T): T[] {
    const n = this.int32();
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this));
    return out;
  }
}

// ---- ApiVersions (v0) ----

export type ApiVersionRanges = Map<number, { min: number; max: number }>;

export function decodeApiVersions(r: Reader): ApiVersionRanges {
  const errorCode = r.int16();
  const ranges = r.array((x) => ({ key: x.int16(), min: x.int16(), max: x.int16() }));
  if (errorCode !== ErrorCode.NONE) throw new KafkaWireError(`ApiVersions failed: ${errorName(errorCode)}`, { errorCode });
  return new Map(ranges.map((v) => [v.key, { min: v.min, max: v.max }]));
}

/** The newest version both sides speak, per request; a broker that shares none is not usable. */
export function chooseVersions(broker: ApiVersionRanges): Record<ApiKeyValue, number> {
  const out = {} as Record<ApiKeyValue, number>;
  for (const key of [ApiKey.Produce, ApiKey.Metadata, ApiKey.ApiVersions, ApiKey.InitProducerId] as const) {
    const ours = KNOWN_VERSIONS[key];
    const theirs = broker.get(key);
    const v = theirs ? Math.min(ours.max, theirs.max) : -1;
    if (!theirs || v < Math.max(ours.min, theirs.min)) {
      throw new KafkaWireError(
        `the broker supports versions ${theirs ? `${theirs.min}-${theirs.max}` : 'none'} of Kafka API ${key}; the wire producer speaks ${ours.min}-${ours.max}: use gateway.kafka.client "kafkajs"`,
        { retriable: false },
      );
    }
    out[key] = v;
  }
  return out;
}

// ---- Metadata (v1-v8) ----

export interface BrokerAddress {
  nodeId: number;
  host: string;
  port: number;
}

export interface PartitionMetadata {
  errorCode: number;
  partition: number;
  leader: number;
}

export interface TopicMetadata {
  errorCode: number;
  name: string;
  partitions: PartitionMetadata[];
}

export interface MetadataResponse {
  brokers: BrokerAddress[];
  topics: TopicMetadata[];
}

export function encodeMetadata(version: number, topics: string[]): Buffer {
  const w = new Writer();
  w.int32(topics.length);
  for (const t of topics) w.string(t);
  if (version >= 4) w.bool(false); // allow_auto_topic_creation: topics are created by the admin
  if (version >= 8) w.bool(false).bool(false); // include cluster / topic authorized operations
  return w.bytes();
}

export function decodeMetadata(version: number, r: Reader): MetadataResponse {
  if (version >= 3) r.int32(); // throttle_time_ms
  const brokers = r.array((x) => {
    const nodeId = x.int32();
    const host = x.string() ?? '';
    const port = x.int32();
    x.string(); // rack
    return { nodeId, host, port };
  });
  if (version >= 2) r.string(); // cluster_id
  r.int32(); // controller_id
  const topics = r.array((x) => {
    const errorCode = x.int16();
    const name = x.string() ?? '';
    x.bool(); // is_internal
    const partitions = x.array((p) => {
      const errorCode = p.int16();
      const partition = p.int32();
      const leader = p.int32();
      if (version >= 7) p.int32(); // leader_epoch
      p.array((q) => q.int32()); // replicas
      p.array((q) => q.int32()); // isr
      if (version >= 5) p.array((q) => q.int32()); // offline replicas
      return { errorCode, partition, leader };
    });
    if (version >= 8) x.int32(); // topic_authorized_operations
    return { errorCode, name, partitions: partitions.sort((a, b) => a.partition - b.partition) };
  });
  if (version >= 8) r.int32(); // cluster_authorized_operations
  return { brokers, topics };
}

// ---- InitProducerId (v0-v1) ----

export function encodeInitProducerId(transactionTimeoutMs: number): Buffer {
  return new Writer().string(null).int32(transactionTimeoutMs).bytes();
}

export function decodeInitProducerId(r: Reader): { producerId: number; producerEpoch: number } {
  r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  if (errorCode !== ErrorCode.NONE) throw new KafkaWireError(`InitProducerId failed: ${errorName(errorCode)}`, { errorCode });
  return { producerId, producerEpoch };
}

// ---- Produce (v3-v8) ----

export interface ProducePartition {
  topic: string;
  partition: number;
  /** One encoded RecordBatch (record-batch.ts). */
  batch: Buffer;
}

/**
 * A Produce request as a list of buffers: the record batches are not copied again, they are
 * written to the socket between the small parts that frame them.
 */
export function encodeProduce(acks: number, timeoutMs: number, partitions: ProducePartition[]): Buffer[] {
  const byTopic = new Map<string, ProducePartition[]>();
  for (const p of partitions) {
    let list = byTopic.get(p.topic);
    if (!list) byTopic.set(p.topic, (list = []));
    list.push(p);
  }
  const parts: Buffer[] = [];
  let w = new Writer().string(null).int16(acks).int32(timeoutMs).int32(byTopic.size);
  for (const [topic, list] of byTopic) {
    w.string(topic).int32(list.length);
    for (const p of list) {
      w.int32(p.partition).int32(p.batch.length);
      parts.push(w.bytes(), p.batch);
      w = new Writer(32);
    }
  }
  return parts;
}

export interface ProducePartitionResult {
  topic: string;
  partition: number;
  errorCode: number;
  baseOffset: number;
  errorMessage: string | null;
}

export function decodeProduce(version: number, r: Reader): ProducePartitionResult[] {
  const out: ProducePartitionResult[] = [];
  r.array((t) => {
    const topic = t.string() ?? '';
    t.array((p) => {
      const partition = p.int32();
      const errorCode = p.int16();
      const baseOffset = p.int64();
      p.int64(); // log_append_time_ms
      if (version >= 5) p.int64(); // log_start_offset
      let errorMessage: string | null = null;
      if (version >= 8) {
        p.array((e) => [e.int32(), e.string()]); // record_errors
        errorMessage = p.string();
      }
      out.push({ topic, partition, errorCode, baseOffset, errorMessage });
    });
  });
  r.int32(); // throttle_time_ms
  return out;
}
