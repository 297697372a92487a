import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { groupMessagesPerPartition, linearGroupingInstalled } from '../../gateway/kafkajs-grouping.js';

const require = createRequire(import.meta.url);

describe('linear kafkajs partition grouping', () => {
  it('gives the same result as kafkajs 2.2.4 own function', () => {
    // kafkajs' original, copied here as the reference (src/producer/groupMessagesPerPartition.js).
    const original = ({ topic, partitionMetadata, messages, partitioner }: Parameters<typeof groupMessagesPerPartition<{ key: string }>>[0]) =>
      partitionMetadata.length === 0
        ? {}
        : messages.reduce<Record<number, { key: string }[]>>((result, message) => {
            const partition = partitioner({ topic, partitionMetadata, message });
            const current = result[partition] || [];
            return Object.assign(result, { [partition]: [...current, message] });
          }, {});
    const messages = Array.from({ length: 2000 }, (_, i) => ({ key: `k${(i * 7919) % 13}` }));
    const partitioner = ({ message }: { message: { key: string } }) => Number(message.key.slice(1)) % 5;
    const args = { topic: 't', partitionMetadata: [1, 2, 3, 4, 5], messages, partitioner };
    expect(groupMessagesPerPartition(args)).toEqual(original(args));
    expect(groupMessagesPerPartition({ ...args, partitionMetadata: [] })).toEqual({});
  });

  it('is what the kafkajs producer uses', async () => {
    expect(linearGroupingInstalled).toBe(true);
    await import('kafkajs');
    expect(require('kafkajs/src/producer/groupMessagesPerPartition.js')).toBe(groupMessagesPerPartition);
  });
});
