import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../../gateway/config.js';
import { lz4Available } from '../../../gateway/lz4.js';

describe('gateway.kafka.client', () => {
  it('defaults to wire (unless LOGFS_KAFKA_CLIENT says otherwise) and accepts kafkajs', () => {
    expect(parseGatewayConfig({}).kafka.client).toBe(process.env.LOGFS_KAFKA_CLIENT ?? 'wire');
    expect(parseGatewayConfig({ kafka: { client: 'kafkajs' } }).kafka.client).toBe('kafkajs');
    expect(() => parseGatewayConfig({ kafka: { client: 'librdkafka' } })).toThrow(/kafka\.client/);
  });

  it('refuses gzip with the wire client, naming the options that work', () => {
    expect(() => parseGatewayConfig({ kafka: { client: 'wire', compression: 'gzip' } })).toThrow(/kafka\.compression: .*"lz4" or "none", or client "kafkajs"/);
    expect(parseGatewayConfig({ kafka: { client: 'kafkajs', compression: 'gzip' } }).kafka.compression).toBe('gzip');
  });

  it('compresses with lz4 by default (setup builds the native module with liblz4)', () => {
    expect(lz4Available, 'setup builds the native module with liblz4').toBe(true);
    expect(parseGatewayConfig({}).kafka.compression).toBe('lz4');
    expect(parseGatewayConfig({ kafka: { client: 'kafkajs' } }).kafka.compression).toBe('lz4');
    expect(parseGatewayConfig({ kafka: { compression: 'none' } }).kafka.compression).toBe('none');
  });

  it('accepts lz4 with either client (the native module is built with liblz4)', () => {
    expect(parseGatewayConfig({ kafka: { client: 'wire', compression: 'lz4' } }).kafka.compression).toBe('lz4');
    expect(parseGatewayConfig({ kafka: { client: 'kafkajs', compression: 'lz4' } }).kafka.compression).toBe('lz4');
    expect(() => parseGatewayConfig({ kafka: { compression: 'snappy' } })).toThrow(/kafka\.compression/);
  });
});
