/** The gateway's public face: what the daemon, sockets and the pipeline may use. */
export { Gateway, type IngestSink, type IngestLine, type InstanceIdentity } from './gateway.js';
export { GatewayConfigSchema, parseGatewayConfig, type GatewayConfig, type GatewayConfigInput } from './config.js';
export { resolveInstanceId, type InstanceIdSource } from './instance-id.js';
export { encodeRecord, decodeRecord, recordId, RECORD_SCHEMA_VERSION, type LogRecord, type RecordSource } from './record-codec.js';
export { ENC_A256GCM, generateStreamKey, keyId, openSealed, parseStreamKey, recordAad, RecordSealer, StoreKeyring, StreamKeyring, type StreamCrypto, type StreamCryptoSpec } from './record-crypto.js';
export { decodeJournalEntry, type JournalEntry } from './journal-entry.js';
export { Journal } from './journal.js';
export { histogramBuckets, histogramQuantile, parsePrometheusText } from './metrics.js';
export { createKafka } from './kafka-shipper.js';
