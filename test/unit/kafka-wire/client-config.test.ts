import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../../gateway/config.js';

describe('gateway.kafka.client', () => {
  it('defaults to kafkajs (unless LOGFS_KAFKA_CLIENT says otherwise) and accepts wire', () => {
    expect(parseGatewayConfig({}).kafka.client).toBe(process.env.LOGFS_KAFKA_CLIENT ?? 'wire');
    expect(parseGatewayConfig({ kafka: { client: 'wire' } }).kafka.client).toBe('wire');
    expect(() => parseGatewayConfig({ kafka: { client: 'librdkafka' } })).toThrow(/kafka\.client/);
  });

  it('refuses gzip with the wire client, naming the options that work', () => {
    expect(() => parseGatewayConfig({ kafka: { client: 'wire', compression: 'gzip' } })).toThrow(/kafka\.compression: .*"lz4" or "none", or client "kafkajs"/);
    expect(parseGatewayConfig({ kafka: { client: 'kafkajs', compression: 'gzip' } }).kafka.compression).toBe('gzip');
  });

  it('accepts lz4 with either client (the native module is built with liblz4)', () => {
    expect(parseGatewayConfig({ kafka: { client: 'wire', compression: 'lz4' } }).kafka.compression).toBe('lz4');
    expect(parseGatewayConfig({ kafka: { client: 'kafkajs', compression: 'lz4' } }).kafka.compression).toBe('lz4');
    expect(() => parseGatewayConfig({ kafka: { compression: 'snappy' } })).toThrow(/kafka\.compression/);
  });
});
