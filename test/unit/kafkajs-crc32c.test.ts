import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { crc32cJs } from '../../gateway/kafkajs-crc32c.js';
import { nativeGateway } from '../../gateway/native.js';

const require = createRequire(import.meta.url);
// kafkajs' own byte-at-a-time implementation, as the reference.
const reference = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;

// The build setup.sh makes (scripts/build-native.sh), which gateway/native.ts finds from the sources too.
const native = nativeGateway?.crc32c;

describe.each([
  ['in JavaScript, eight bytes at a time', crc32cJs],
  ['native (dist/native/logfs-gateway.node)', native!],
])('CRC-32C %s', (_name, crc32c) => {
  it('matches the known check value and kafkajs on every length and alignment', () => {
    expect(crc32c, 'scripts/build-native.sh must have built dist/native/logfs-gateway.node').toBeTypeOf('function');
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    const data = crypto.randomBytes(5000);
    for (let len = 0; len < 70; len++) for (let off = 0; off < 9; off++) {
      const b = data.subarray(off, off + len);
      expect(crc32c(b)).toBe(reference(b) >>> 0);
    }
    expect(crc32c(data)).toBe(reference(data) >>> 0);
    expect(crc32c(new Uint8Array(data.buffer, data.byteOffset + 3, 1000))).toBe(reference(data.subarray(3, 1003)) >>> 0);
  });
});

it('native CRC-32C refuses what is not bytes', () => {
  expect(() => native!('abc' as never)).toThrow(/expected a Uint8Array/);
  expect(() => native!(new Uint16Array(4) as never)).toThrow(/expected a Uint8Array/);
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
