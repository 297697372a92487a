/**
 * An idempotent Kafka producer for exactly what the gateway ships (KIP-98,
 * https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging):
 * acks=-1, keyed records already encoded, one RecordBatch per partition, one request in flight per
 * partition (a send waits for the previous one), a sequence number per partition that advances
 * only when the broker acknowledged the batch. Resending after a timeout or a lost connection
 * reuses the same producer id and sequence, so the broker drops what it already has.
 */
import { Backoff, sleep } from '../../core/retry.js';
import { BrokerConnection } from './broker-connection.js';
import { partitionForKey } from './partitioner.js';
import {
  ApiKey,
  decodeInitProducerId,
  decodeMetadata,
  decodeProduce,
  encodeInitProducerId,
  encodeMetadata,
  encodeProduce,
  ErrorCode,
  errorName,
  KafkaWireError,
  type PartitionMetadata,
  type ProducePartition,
} from './protocol.js';
import { COMPRESSION_LZ4, COMPRESSION_NONE, encodePackedRecordBatch, nextSequence, restampRecordBatch, type BatchProducer, type PackedRecords, type WireCompression } from './record-batch.js';
import { lz4Available, LZ4_UNAVAILABLE } from '../lz4.js';

export const WIRE_PRODUCER_DEFAULTS = {
  /** Metadata older than this is refreshed before a send (kafkajs' metadataMaxAge). */
  metadataMaxAgeMs: 300_000,
  /** Backoff between rounds of a send that failed (the shipper's, docs/kafka.md "Retries"). */
  backoff: { initialMs: 200, maxMs: 5_000 },
  /** Client-side wait beyond the broker's produce timeout before the connection is given up. */
  responseGraceMs: 5_000,
  /** Partition and key caches are cleared when they reach this many entries. */
  cacheEntries: 10_000,
};

/** Why the wire producer refuses gzip (also the configuration's message, gateway/config.ts). */
export const WIRE_NO_GZIP = 'the wire client (gateway.kafka.client "wire") does not write gzip: use compression "lz4" or "none", or client "kafkajs"';

export interface WireProducerOptions {
  brokers: string[];
  clientId: string;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  /** Compression of the batches: none (default) or lz4 (needs the native module built with liblz4). */
  compression?: 'none' | 'lz4' | 'gzip';
  /** About the most bytes of records in one send (the gateway's batchMaxBytes): sizes the reused batch buffers. */
  batchMaxBytes?: number;
}

export interface WireRecord {
  key: string;
  value: Buffer;
}

export type WireSendResult = 'ok' | 'too-large' | 'stopped';

export interface WireProducerHooks {
  /** A round of a send failed (some partitions not acknowledged); the next one follows in `retryInMs`. */
  retrying(err: unknown, retryInMs: number): void;
  /** The broker refused a batch as too large: the send ends with 'too-large'. */
  tooLarge(err: unknown): void;
}

/**
 * Records of one send, their values in one buffer: each record's topic and key (instance ID), as
 * the index of the pair in `groups` (a send carries a handful: one per stream and instance), and
 * where its value lies in `source`. The gateway builds this straight from the journal entries the
 * shipper hands over (kafka-producer.ts), so no record needs an object or a Buffer of its own.
 */
export interface PackedBatch {
  source: Buffer;
  groups: { topic: string; key: string }[];
  group: Int32Array;
  starts: Int32Array;
  lengths: Int32Array;
}

/** `byTopic` as a PackedBatch: the values copied into one buffer. */
export function packWireRecords(byTopic: Map<string, WireRecord[]>): PackedBatch {
  let total = 0;
  let n = 0;
  for (const records of byTopic.values()) {
    n += records.length;
    for (const r of records) total += r.value.length;
  }
  const source = Buffer.allocUnsafe(total);
  const groups: PackedBatch['groups'] = [];
  const index = new Map<string, number>();
  const group = new Int32Array(n);
  const starts = new Int32Array(n);
  const lengths = new Int32Array(n);
  let o = 0;
  let i = 0;
  for (const [topic, records] of byTopic) {
    let lastKey: string | undefined;
    let g = -1;
    for (const r of records) {
      // Consecutive records mostly share their key (one instance's lines).
      if (r.key !== lastKey) {
        const id = `${topic}\u0000${r.key}`;
        const known = index.get(id);
        if (known === undefined) {
          index.set(id, (g = groups.length));
          groups.push({ topic, key: r.key });
        } else {
          g = known;
        }
        lastKey = r.key;
      }
      source.set(r.value, o);
      group[i] = g;
      starts[i] = o;
      lengths[i] = r.value.length;
      o += r.value.length;
      i++;
    }
  }
  return { source, groups, group, starts, lengths };
}

const EMPTY = new Int32Array(0);

let ZEROS = new Int32Array(64 * 1024);
/** `n` zeros, shared and never written (the key indexes of a batch with one key). */
function zeros(n: number): Int32Array {
  if (ZEROS.length < n) ZEROS = new Int32Array(n);
  return ZEROS.subarray(0, n);
}
/** A partition's source once its batch is encoded and the caller may reuse the memory. */
const RELEASED = Buffer.alloc(0);

const partitionId = (w: { topic: string; partition: number }): string => `${w.topic}\u0000${w.partition}`;

/** Nothing may read the source any more: a bug that tried would fail, not send other bytes. */
function releaseSource(work: Map<string, PartitionWork>): void {
  for (const w of work.values()) {
    w.source = RELEASED;
    w.packed = undefined;
  }
}

/**
 * Reused batch buffers: how many are kept, and their size: room for a batch of batchMaxBytes and
 * an eighth more (a record's key and framing in the batch, as against its journal entry), in whole
 * MiB, at least 4 MiB. Only the bytes a batch is encoded into become resident (with lz4 a fraction).
 */
const BATCH_BUFFERS = 4;
const MIB = 1024 * 1024;
const batchBufferBytes = (batchMaxBytes = 0): number => Math.max(4 * MIB, Math.ceil((batchMaxBytes * 9) / 8 / MIB) * MIB);

interface PartitionWork {
  topic: string;
  partition: number;
  source: Buffer;
  /** The partition's distinct keys, and for each record the index of its key, its value's place. */
  keys: Buffer[];
  keyIndex: Int32Array;
  starts: Int32Array;
  lengths: Int32Array;
  /** The records' value bytes. */
  valueBytes: number;
  packed?: PackedRecords;
  /** The batch as last encoded, and for which producer id, epoch and sequence. */
  encoded?: { batch: Buffer; stamp: string };
}

interface ProducerId {
  producerId: number;
  producerEpoch: number;
}

/**
 * A send's batches and the memory they were encoded into: the buffers go back to the pool when
 * the send ends with every request answered (a request that timed out may still sit in a
 * socket's queue, and its bytes must not change underneath it).
 */
interface SendState {
  work?: Map<string, PartitionWork>;
  buffers: Buffer[];
  answered: boolean;
}

/**
 * A send encoded ahead of its turn (WireProducer.prepare), while the send before it is with the
 * broker: pass it to sendPacked, or to discard when it will not be sent.
 */
export interface PreparedSend {
  readonly batch: PackedBatch;
  /** Every record is encoded: the batch's source is not read again. */
  readonly encoded: boolean;
  readonly state: SendState;
}

export class WireProducer {
  private readonly connections = new Map<string, Promise<BrokerConnection>>();
  private readonly brokerAddress = new Map<number, string>();
  private readonly topicPartitions = new Map<string, PartitionMetadata[]>();
  private metadataAt = 0;
  private metadataStale = true;
  private producerId: ProducerId | undefined;
  private readonly sequences = new Map<string, number>();
  private readonly keyBytes = new Map<string, Buffer>();
  private readonly partitionMemo = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Memory that batches are encoded into, reused from send to send (a new buffer per batch left
   * megabytes of garbage per batch, which V8 collects only every 64 MB or so); see SendState.
   */
  private readonly batchBuffers: Buffer[] = [];
  /**
   * Per partition, the sequence number after the last batch encoded for it, sent or not: what a
   * batch encoded ahead (prepare) starts at if every send before it is acknowledged. Only a guess:
   * a batch is restamped at its turn when the real sequence differs.
   */
  private readonly expectedSequences = new Map<string, number>();
  private closed = false;
  private readonly compression: WireCompression;
  private readonly batchBufferBytes: number;

  constructor(
    private readonly opts: WireProducerOptions,
    private readonly hooks: WireProducerHooks,
  ) {
    if (opts.brokers.length === 0) throw new KafkaWireError('the wire producer needs at least one broker', { retriable: false });
    const compression = opts.compression ?? 'none';
    if (compression === 'gzip') throw new KafkaWireError(WIRE_NO_GZIP, { retriable: false });
    if (compression === 'lz4' && !lz4Available) throw new KafkaWireError(LZ4_UNAVAILABLE, { retriable: false });
    this.compression = compression === 'lz4' ? COMPRESSION_LZ4 : COMPRESSION_NONE;
    this.batchBufferBytes = batchBufferBytes(opts.batchMaxBytes);
  }

  /**
   * Produces `byTopic` and retries until every record is acknowledged (acks=-1), a partition's
   * batch is refused as too large, or `signal` aborts. Sends run one after the other.
   */
  send(byTopic: Map<string, WireRecord[]>, signal: AbortSignal): Promise<WireSendResult> {
    return this.sendPacked(packWireRecords(byTopic), signal);
  }

  /**
   * send, for records whose values lie in one buffer. `encoded` is called once every record is
   * encoded into a batch of its partition: from then on `batch.source` is not read again (a retry
   * for another producer id restamps the encoded batch), so the caller may reuse its memory.
   */
  sendPacked(batch: PackedBatch, signal: AbortSignal, encoded?: () => void, prepared?: PreparedSend): Promise<WireSendResult> {
    if (prepared !== undefined && prepared.batch !== batch) throw new Error('sendPacked: the prepared send is of another batch');
    const state = prepared?.state ?? { buffers: [], answered: true };
    const run = this.queue.then(() => this.sendNow(batch, signal, state, encoded));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Encodes `batch` now, ahead of its turn, for the producer id in use and the sequence numbers
   * its partitions will have if every send before it is acknowledged, so that its encoding overlaps
   * the broker's work on those. Encodes nothing (and sendPacked does it at its turn) until the
   * producer knows its producer id and the topics' partitions.
   */
  prepare(batch: PackedBatch): PreparedSend {
    const state: SendState = { buffers: [], answered: true };
    const pid = this.producerId;
    const topics = new Set(batch.groups.map((g) => g.topic));
    if (this.closed || pid === undefined || this.metadataStale || [...topics].some((t) => !this.topicPartitions.has(t))) {
      return { batch, encoded: false, state };
    }
    state.work = this.assign(batch);
    const timestamp = Date.now();
    for (const w of state.work.values()) this.batchOf(w, pid, timestamp, state, this.expectedSequences.get(partitionId(w)));
    releaseSource(state.work);
    return { batch, encoded: true, state };
  }

  /** A prepared send that will not be sent: its memory back, and the sequences it assumed forgotten. */
  discard(prepared: PreparedSend): void {
    this.reuse(prepared.state.buffers.splice(0));
    this.expectedSequences.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    // Closing the connections first fails a request in flight, so a send in progress ends at once.
    const conns = await Promise.allSettled(this.connections.values());
    for (const c of conns) if (c.status === 'fulfilled') c.value.close();
    await this.queue;
    this.connections.clear();
  }

  /** The producer id and epoch in use (tests). */
  get currentProducerId(): ProducerId | undefined {
    return this.producerId;
  }

  private async sendNow(batch: PackedBatch, signal: AbortSignal, state: SendState, encoded?: () => void): Promise<WireSendResult> {
    let result: WireSendResult | undefined;
    try {
      return (result = await this.sendUntilDone(batch, signal, state, encoded));
    } finally {
      if (state.answered) this.reuse(state.buffers);
      state.buffers = [];
      // Not acknowledged whole: the batches encoded ahead of this one guessed their sequences wrong.
      if (result !== 'ok') this.expectedSequences.clear();
    }
  }

  private async sendUntilDone(batch: PackedBatch, signal: AbortSignal, state: SendState, encoded?: () => void): Promise<WireSendResult> {
    const backoff = new Backoff(WIRE_PRODUCER_DEFAULTS.backoff);
    const topics = [...new Set(batch.groups.map((g) => g.topic))];
    let sourceFree = false;
    const whenEncoded = (): void => {
      const work = state.work;
      if (sourceFree || !work || [...work.values()].some((w) => w.encoded === undefined)) return;
      sourceFree = true;
      releaseSource(work);
      encoded?.();
    };
    // Encoded ahead (prepare): the source is free already.
    whenEncoded();
    for (;;) {
      if (signal.aborted || this.closed) return 'stopped';
      let failure: unknown;
      try {
        await this.ensureMetadata(topics);
        state.work ??= this.assign(batch);
        const work = state.work;
        const outcome = await this.produceRound(work, state, whenEncoded);
        if (outcome.tooLarge) {
          this.hooks.tooLarge(outcome.tooLarge);
          return 'too-large';
        }
        if (work.size === 0) return 'ok';
        failure = outcome.error;
      } catch (err) {
        failure = err;
      }
      const delay = backoff.next();
      this.hooks.retrying(failure, delay);
      await sleep(delay, signal).catch(() => undefined);
    }
  }

  /** Records by partition; a record of an instance goes where kafkajs' default partitioner puts it. */
  private assign(batch: PackedBatch): Map<string, PartitionWork> {
    const work = new Map<string, PartitionWork>();
    // Per (topic, key) pair, its partition's work and the key's index there: the partition and the
    // key's bytes once per pair, then a loop over the records' numbers.
    const slots: PartitionWork[] = [];
    const slotOf = new Int32Array(batch.groups.length);
    const keyOf = new Int32Array(batch.groups.length);
    batch.groups.forEach(({ topic, key }, g) => {
      const count = (this.topicPartitions.get(topic) as PartitionMetadata[]).length;
      const bytes = this.keyBytesOf(key);
      const partition = this.partitionOf(topic, count, key, bytes);
      const id = partitionId({ topic, partition });
      let w = work.get(id);
      if (!w) {
        work.set(id, (w = { topic, partition, source: batch.source, keys: [], keyIndex: EMPTY, starts: EMPTY, lengths: EMPTY, valueBytes: 0 }));
        slots.push(w);
      }
      slotOf[g] = slots.indexOf(w);
      keyOf[g] = w.keys.push(bytes) - 1;
    });
    const { group, starts, lengths } = batch;
    const n = group.length;
    if (slots.length === 1) {
      // One partition (one instance writing, or one partition per topic): the batch's own places.
      const w = slots[0]!;
      w.starts = starts;
      w.lengths = lengths;
      if (w.keys.length > 1) {
        w.keyIndex = new Int32Array(n);
        for (let i = 0; i < n; i++) w.keyIndex[i] = keyOf[group[i]!]!;
      } else {
        w.keyIndex = zeros(n); // one instance: every record has key 0, and no array per batch
      }
      for (let i = 0; i < n; i++) w.valueBytes += lengths[i]!;
      return work;
    }
    const counts = new Int32Array(slots.length);
    for (let i = 0; i < n; i++) counts[slotOf[group[i]!]!]!++;
    slots.forEach((w, k) => {
      w.starts = new Int32Array(counts[k]!);
      w.lengths = new Int32Array(counts[k]!);
      w.keyIndex = new Int32Array(counts[k]!);
    });
    const fill = new Int32Array(slots.length);
    for (let i = 0; i < n; i++) {
      const g = group[i]!;
      const k = slotOf[g]!;
      const w = slots[k]!;
      const j = fill[k]!++;
      w.starts[j] = starts[i]!;
      w.lengths[j] = lengths[i]!;
      w.keyIndex[j] = keyOf[g]!;
      w.valueBytes += lengths[i]!;
    }
    return work;
  }

  private keyBytesOf(key: string): Buffer {
    let bytes = this.keyBytes.get(key);
    if (!bytes) {
      if (this.keyBytes.size >= WIRE_PRODUCER_DEFAULTS.cacheEntries) this.keyBytes.clear();
      this.keyBytes.set(key, (bytes = Buffer.from(key, 'utf8')));
    }
    return bytes;
  }

  private partitionOf(topic: string, count: number, key: string, keyBytes: Buffer): number {
    const memoKey = `${topic}\u0000${count}\u0000${key}`;
    let partition = this.partitionMemo.get(memoKey);
    if (partition === undefined) {
      if (this.partitionMemo.size >= WIRE_PRODUCER_DEFAULTS.cacheEntries) this.partitionMemo.clear();
      this.partitionMemo.set(memoKey, (partition = partitionForKey(keyBytes, count)));
    }
    return partition;
  }

  /**
   * One Produce request per leader for every partition still to do. Acknowledged partitions leave
   * `work` (their sequence advanced); the others stay for the next round.
   */
  private async produceRound(work: Map<string, PartitionWork>, state: SendState, encoded: () => void): Promise<{ error?: unknown; tooLarge?: unknown }> {
    const pid = await this.ensureProducerId();
    const byLeader = new Map<string, PartitionWork[]>();
    let error: unknown;
    for (const w of work.values()) {
      const leader = this.topicPartitions.get(w.topic)?.[w.partition]?.leader ?? -1;
      const address = this.brokerAddress.get(leader);
      if (leader < 0 || !address) {
        this.metadataStale = true;
        error = new KafkaWireError(`no leader known for ${w.topic}/${w.partition}`, { errorCode: ErrorCode.LEADER_NOT_AVAILABLE });
        continue;
      }
      let list = byLeader.get(address);
      if (!list) byLeader.set(address, (list = []));
      list.push(w);
    }
    const timestamp = Date.now();
    const rounds = [...byLeader].map(async ([address, list]) => {
      const parts: ProducePartition[] = list.map((w) => ({ topic: w.topic, partition: w.partition, batch: this.batchOf(w, pid, timestamp, state) }));
      const conn = await this.connection(address);
      const version = (conn.versions as NonNullable<typeof conn.versions>)[ApiKey.Produce];
      const timeout = this.opts.requestTimeoutMs;
      const r = await conn.request(ApiKey.Produce, version, encodeProduce(-1, timeout, parts), timeout + WIRE_PRODUCER_DEFAULTS.responseGraceMs);
      return decodeProduce(version, r);
    });
    // Each round above encoded its partitions' batches before its first await.
    encoded();
    let tooLarge: unknown;
    let reinit = false;
    for (const settled of await Promise.allSettled(rounds)) {
      if (settled.status === 'rejected') {
        // Connection lost or timed out: whether the broker wrote the batch is unknown; the same
        // sequence is sent again and the broker drops a duplicate.
        error = settled.reason;
        state.answered = false;
        this.metadataStale = true;
        continue;
      }
      for (const res of settled.value) {
        const id = partitionId(res);
        const w = work.get(id);
        if (!w) continue;
        const code = res.errorCode;
        if (code === ErrorCode.NONE || code === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) {
          this.sequences.set(id, nextSequence(this.sequences.get(id) ?? 0, w.starts.length));
          work.delete(id);
          continue;
        }
        const err = new KafkaWireError(`Kafka refused the batch for ${res.topic}/${res.partition}: ${errorName(code)}${res.errorMessage ? ` (${res.errorMessage})` : ''}`, {
          errorCode: code,
          retriable: code !== ErrorCode.MESSAGE_TOO_LARGE,
        });
        if (code === ErrorCode.MESSAGE_TOO_LARGE) tooLarge = err;
        else error = err;
        if (code === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER || code === ErrorCode.UNKNOWN_PRODUCER_ID || code === ErrorCode.INVALID_PRODUCER_EPOCH) reinit = true;
        if (
          code === ErrorCode.NOT_LEADER_OR_FOLLOWER ||
          code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION ||
          code === ErrorCode.LEADER_NOT_AVAILABLE ||
          code === ErrorCode.FENCED_LEADER_EPOCH
        ) {
          this.metadataStale = true;
        }
      }
    }
    if (reinit) {
      // The broker lost or rejected our producer state: start over with a new producer id, every
      // partition from sequence 0 (records the broker may already hold can then be written twice).
      this.producerId = undefined;
      this.sequences.clear();
      this.expectedSequences.clear();
    }
    return { error, tooLarge };
  }

  /**
   * The partition's batch for the current producer id and sequence, or `baseSequence` (prepare):
   * encoded once, restamped when they change.
   */
  private batchOf(w: PartitionWork, pid: ProducerId, timestamp: number, state: SendState, baseSequence = this.sequences.get(partitionId(w)) ?? 0): Buffer {
    const stamp = `${pid.producerId}:${pid.producerEpoch}:${baseSequence}`;
    if (w.encoded?.stamp === stamp) return w.encoded.batch;
    const producer = { ...pid, baseSequence };
    const batch = w.encoded !== undefined ? restampRecordBatch(w.encoded.batch, producer) : this.encode(w, timestamp, producer, state);
    w.encoded = { batch, stamp };
    this.expectedSequences.set(partitionId(w), nextSequence(baseSequence, w.starts.length));
    return batch;
  }

  /** The partition's records as a batch; large ones into a reused buffer that `state` holds until the send ends. */
  private encode(w: PartitionWork, timestamp: number, producer: BatchProducer, state: SendState): Buffer {
    w.packed ??= { source: w.source, starts: w.starts, lengths: w.lengths, keyIndex: w.keyIndex, keys: w.keys };
    // Large batches go into reused memory; small ones (a few lines, many partitions) get their
    // own buffer of their size, as the garbage they leave is small.
    const out = w.valueBytes >= this.batchBufferBytes / 4 ? (this.batchBuffers.pop() ?? Buffer.allocUnsafeSlow(this.batchBufferBytes)) : undefined;
    const encoded = encodePackedRecordBatch(w.packed, timestamp, producer, out, this.compression);
    if (out !== undefined) {
      // When it did not fit (long lines), the batch has a buffer of its own and `out` is unused.
      if (encoded.buffer === out.buffer) state.buffers.push(out);
      else this.reuse([out]);
    }
    return encoded;
  }

  /** Batch buffers back to the pool (as many as it keeps). */
  private reuse(buffers: Buffer[]): void {
    for (const b of buffers) if (this.batchBuffers.length < BATCH_BUFFERS) this.batchBuffers.push(b);
  }

  private async ensureProducerId(): Promise<ProducerId> {
    if (this.producerId) return this.producerId;
    const conn = await this.anyConnection();
    const version = (conn.versions as NonNullable<typeof conn.versions>)[ApiKey.InitProducerId];
    const r = await conn.request(ApiKey.InitProducerId, version, [encodeInitProducerId(60_000)]);
    this.producerId = decodeInitProducerId(r);
    this.sequences.clear();
    return this.producerId;
  }

  private async ensureMetadata(topics: string[]): Promise<void> {
    const fresh = !this.metadataStale && Date.now() - this.metadataAt < WIRE_PRODUCER_DEFAULTS.metadataMaxAgeMs;
    if (fresh && topics.every((t) => this.topicPartitions.has(t))) return;
    const wanted = [...new Set([...this.topicPartitions.keys(), ...topics])];
    const conn = await this.anyConnection();
    const version = (conn.versions as NonNullable<typeof conn.versions>)[ApiKey.Metadata];
    const md = decodeMetadata(version, await conn.request(ApiKey.Metadata, version, [encodeMetadata(version, wanted)]));
    for (const b of md.brokers) this.brokerAddress.set(b.nodeId, `${b.host}:${b.port}`);
    let problem: KafkaWireError | undefined;
    for (const t of md.topics) {
      if (t.errorCode !== ErrorCode.NONE || t.partitions.length === 0) {
        // A topic of an earlier batch that is gone does not stop this one.
        this.topicPartitions.delete(t.name);
        if (topics.includes(t.name)) problem = new KafkaWireError(`no metadata for topic ${t.name}: ${errorName(t.errorCode)}`, { errorCode: t.errorCode });
        continue;
      }
      this.topicPartitions.set(t.name, t.partitions);
    }
    const missing = topics.find((t) => !this.topicPartitions.has(t));
    if (problem || missing) {
      this.metadataStale = true;
      throw problem ?? new KafkaWireError(`no metadata for topic ${missing}`, { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    }
    this.metadataStale = false;
    this.metadataAt = Date.now();
  }

  /** A live connection to any broker: a known leader's first, else the bootstrap list in order. */
  private async anyConnection(): Promise<BrokerConnection> {
    const candidates = [...new Set([...this.brokerAddress.values(), ...this.opts.brokers])];
    let last: unknown;
    for (const address of candidates) {
      try {
        return await this.connection(address);
      } catch (err) {
        last = err;
      }
    }
    throw last ?? new KafkaWireError('no Kafka broker reachable');
  }

  private async connection(address: string): Promise<BrokerConnection> {
    const existing = this.connections.get(address);
    if (existing) {
      const conn = await existing.catch(() => undefined);
      if (conn?.alive) return conn;
      if (this.connections.get(address) === existing) this.connections.delete(address);
      const again = this.connections.get(address);
      if (again) return again;
    }
    const sep = address.lastIndexOf(':');
    const conn = new BrokerConnection({
      host: address.slice(0, sep),
      port: Number(address.slice(sep + 1)),
      clientId: this.opts.clientId,
      connectionTimeoutMs: this.opts.connectionTimeoutMs,
      requestTimeoutMs: this.opts.requestTimeoutMs,
    });
    const ready = conn.connect().then(
      () => conn,
      (err: unknown) => {
        conn.close();
        throw err;
      },
    );
    this.connections.set(address, ready);
    ready.catch(() => {
      if (this.connections.get(address) === ready) this.connections.delete(address);
    });
    return ready;
  }
}
