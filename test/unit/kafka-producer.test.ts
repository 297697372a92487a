// The producer module first: it loads the project's kafkajs patches before kafkajs itself.
import { retentionMs, streamTopicConfig } from '../../gateway/kafka-producer.js';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../gateway/config.js';

describe('stream topic creation', () => {
  const config = parseGatewayConfig({ kafka: { replicationFactor: 3, topicMaxMessageBytes: 1_048_576 } });

  it("creates a topic with the stream's partitions and retention", () => {
    expect(streamTopicConfig('logfs.p.web', ['logfs.p.web', 4, 6], config)).toEqual({
      topic: 'logfs.p.web',
      numPartitions: 4,
      replicationFactor: 3,
      configEntries: [
        { name: 'max.message.bytes', value: '1048576' },
        { name: 'retention.ms', value: '21600000' },
      ],
    });
  });

  it('leaves retention to the broker when the stream has none, and an unknown stream gets 1 partition', () => {
    expect(streamTopicConfig('logfs.p.web', ['logfs.p.web', 2, null], config).configEntries).toEqual([{ name: 'max.message.bytes', value: '1048576' }]);
    expect(streamTopicConfig('logfs.p.x', undefined, config)).toMatchObject({ numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1048576' }] });
  });

  it('turns fractional hours into whole milliseconds', () => {
    expect(retentionMs(0.5)).toBe(1_800_000);
    expect(retentionMs(1 / 3)).toBe(1_200_000);
  });
});
