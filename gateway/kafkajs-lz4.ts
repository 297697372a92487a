/**
 * kafkajs 2.2.4 has no LZ4 codec: its table throws "LZ4 compression not implemented" for batches
 * of compression type 3. This module puts logFS's codec (lz4.ts) in that table, so that kafkajs
 * consumers read LZ4 batches (the gateway produces them with `compression: lz4`, so do Kafka's own
 * clients and librdkafka's) and kafkajs producers can write them. The table is an object kafkajs
 * looks up on every batch, so, unlike the other patches, the order of loading does not matter.
 */
import { createRequire } from 'node:module';
import { lz4Compress, lz4Decompress } from './lz4.js';

const require = createRequire(import.meta.url);

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const compression = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { LZ4: number }; Codecs: Record<number, () => Codec> };

export const lz4Codec: Codec = {
  async compress(encoder) {
    return lz4Compress(encoder.buffer);
  },
  async decompress(buffer) {
    return lz4Decompress(buffer);
  },
};

compression.Codecs[compression.Types.LZ4] = () => lz4Codec;
