import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../gateway/kafkajs-crc32c.js';

const require = createRequire(import.meta.url);
// kafkajs' own byte-at-a-time implementation, as the reference.
const reference = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;

describe('CRC-32C, eight bytes at a time', () => {
  it('matches the known check value and kafkajs on every length and alignment', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    const data = crypto.randomBytes(5000);
    for (let len = 0; len < 70; len++) for (let off = 0; off < 9; off++) {
      const b = data.subarray(off, off + len);
      expect(crc32c(b)).toBe(reference(b) >>> 0);
    }
    expect(crc32c(data)).toBe(reference(data) >>> 0);
  });
});

describe('key-remembering partitioner', () => {
  it('chooses the partitions kafkajs chooses for keyed messages', async () => {
    const { keyMemoPartitioner } = await import('../../gateway/kafka-producer.js');
    const { Partitioners } = await import('kafkajs');
    const memo = keyMemoPartitioner();
    const ref = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 7 }, (_, i) => ({ partitionId: i, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 200; i++) {
        const message = { key: `i-${i}`, value: 'x' };
        expect(memo({ topic: 't', partitionMetadata, message })).toBe(ref({ topic: 't', partitionMetadata, message }));
      }
    }
    expect(memo({ topic: 't', partitionMetadata, message: { key: 'k', value: 'x', partition: 5 } })).toBe(5);
  });
});
