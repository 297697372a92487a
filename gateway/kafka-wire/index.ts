/**
 * The wire producer: a minimal idempotent Kafka producer over node:net for what the gateway ships
 * (`gateway.kafka.client: wire`, docs/kafka.md "Wire client"). Topic creation stays on kafkajs' admin.
 */
export { WireProducer, WIRE_PRODUCER_DEFAULTS, packWireRecords, type PackedBatch, type WireProducerOptions, type WireRecord, type WireSendResult, type WireProducerHooks, type PreparedSend } from './wire-producer.js';
export { encodeRecordBatch, encodePackedRecordBatch, encodePackedRecordBatchJs, nextSequence, zigzag32, uvarintSize, writeUVarint, type PackedRecords } from './record-batch.js';
export { murmur2, partitionForKey } from './partitioner.js';
export { KafkaWireError } from './protocol.js';
