import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey } from '../../../gateway/kafka-wire/partitioner.js';

const require = createRequire(import.meta.url);
const reference = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number;
const createDefault = require('kafkajs/src/producer/partitioners/default/index.js') as () => (a: unknown) => number;

describe('murmur2 partitioner', () => {
  it('hashes every key length and byte like kafkajs', () => {
    for (let len = 0; len < 64; len++) for (let round = 0; round < 20; round++) {
      const key = crypto.randomBytes(len);
      expect(murmur2(key), key.toString('hex')).toBe(reference(key));
    }
  });

  it('chooses the partition of kafkajs\' default partitioner for 20,000 instance IDs', () => {
    const kafkajs = createDefault();
    for (const partitions of [1, 2, 3, 7, 64]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 1 }));
      for (let i = 0; i < 4000; i++) {
        const key = i % 2 ? `i-${crypto.randomBytes(8).toString('hex')}` : `host-${i}.example.örg`;
        const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect(partitionForKey(Buffer.from(key), partitions), key).toBe(expected);
      }
    }
  });
});
