import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../../gateway/config.js';

describe('gateway.kafka.client', () => {
  it('defaults to kafkajs (unless LOGFS_KAFKA_CLIENT says otherwise) and accepts wire', () => {
    expect(parseGatewayConfig({}).kafka.client).toBe(process.env.LOGFS_KAFKA_CLIENT ?? 'wire');
    expect(parseGatewayConfig({ kafka: { client: 'wire' } }).kafka.client).toBe('wire');
    expect(() => parseGatewayConfig({ kafka: { client: 'librdkafka' } })).toThrow(/kafka\.client/);
  });

  it('refuses compression with the wire client, naming both options', () => {
    expect(() => parseGatewayConfig({ kafka: { client: 'wire', compression: 'gzip' } })).toThrow(/kafka\.compression: .*client "kafkajs"/);
    expect(parseGatewayConfig({ kafka: { client: 'kafkajs', compression: 'gzip' } }).kafka.compression).toBe('gzip');
  });
});
