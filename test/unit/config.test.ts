import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogfsError } from '../../core/errors.js';
import { mergeConfig, parseDaemonConfig, readConfigFile } from '../../daemon/config.js';
import { parseGatewayConfig } from '../../gateway/config.js';

/** Runs `fn`, expects a LOGFS_E_CONFIG error and returns its message. */
function configMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LogfsError);
    expect((err as LogfsError).code).toBe('LOGFS_E_CONFIG');
    return (err as LogfsError).message;
  }
  throw new Error('expected LOGFS_E_CONFIG, the configuration was accepted');
}

async function configErrorOf(p: Promise<unknown>): Promise<LogfsError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LogfsError);
  expect((err as LogfsError).code).toBe('LOGFS_E_CONFIG');
  return err as LogfsError;
}

describe('gateway configuration', () => {
  it('defaults to embedded mode with journal durability', () => {
    const c = parseGatewayConfig({});
    expect(c.kafka.brokers).toEqual([]);
    expect(c.durability).toBe('journal');
    expect(c.onFull).toBe('block');
    expect(c.journal.fsync).toBe('barrier');
    expect(c.journal.dir).toBeUndefined();
    expect(c.provider).toBe('default');
    expect(c.host).toBe(os.hostname());
    expect(c.kafka.topicPrefix).toBe('logfs');
    expect(c.metricsListen).toBe('127.0.0.1:9464');
    expect(c.remoteInstances).toEqual([]);
    expect(c.instance.machineIdFile).toBe('/etc/machine-id');
  });

  it('treats undefined and null input as empty', () => {
    expect(parseGatewayConfig(undefined)).toEqual(parseGatewayConfig({}));
    expect(parseGatewayConfig(null)).toEqual(parseGatewayConfig({}));
  });

  it('keeps given values and fills the rest of a section', () => {
    const c = parseGatewayConfig({ kafka: { brokers: ['k1:9092', 'k2.example:19092'] }, journal: { fsync: 'always' } });
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2.example:19092']);
    expect(c.kafka.clientId).toBe('logfs-gateway');
    expect(c.journal.fsync).toBe('always');
    expect(c.journal.segmentBytes).toBe(64 * 1024 * 1024);
  });

  it('rejects a broker without a port, naming its path', () => {
    const msg = configMessage(() => parseGatewayConfig({ kafka: { brokers: ['ok:9092', 'kafka1'] } }));
    expect(msg).toContain('kafka.brokers.1');
    expect(msg).toContain('host:port');
    expect(msg).not.toContain('brokers.0');
    configMessage(() => parseGatewayConfig({ kafka: { brokers: ['kafka1:'] } }));
    configMessage(() => parseGatewayConfig({ kafka: { brokers: ['kafka 1:9092'] } }));
  });

  it('rejects unknown keys at the top and inside sections, naming where', () => {
    expect(configMessage(() => parseGatewayConfig({ bogus: 1 }))).toMatch(/\(top\): .*"bogus"/);
    expect(configMessage(() => parseGatewayConfig({ kafka: { brokerz: [] } }))).toMatch(/kafka: .*"brokerz"/);
    expect(configMessage(() => parseGatewayConfig({ remoteInstances: [{ id: 'i', socket: '/s', sockett: 1 }] }))).toMatch(
      /remoteInstances\.0: .*"sockett"/,
    );
  });

  it('reports every problem at once', () => {
    const msg = configMessage(() =>
      parseGatewayConfig({
        provider: 'Bad Provider',
        durability: 'maybe',
        journal: { segmentBytes: 10, extra: true },
        kafka: { brokers: ['nope'] },
      }),
    );
    expect(msg).toMatch(/^invalid gateway configuration:/);
    for (const p of ['provider:', 'durability:', 'journal.segmentBytes:', 'journal:', '"extra"', 'kafka.brokers.0:']) {
      expect(msg, p).toContain(p);
    }
    expect(msg.split('\n').length).toBe(1 + 5);
  });

  it('keeps the issues in the error context', () => {
    let err: unknown;
    try {
      parseGatewayConfig({ onFull: 'drop' });
    } catch (e) {
      err = e;
    }
    const issues = (err as LogfsError).context.issues as { path: unknown[] }[];
    expect(issues.map((i) => i.path)).toEqual([['onFull']]);
  });

  it('accepts null metricsListen to turn metrics off', () => {
    expect(parseGatewayConfig({ metricsListen: null }).metricsListen).toBeNull();
  });
});

describe('logfsd configuration', () => {
  it('has the documented defaults', () => {
    const c = parseDaemonConfig({});
    expect(c.mount.path).toBe('/dev/logFS');
    expect(c.mount.blksize).toBe(131072);
    expect(c.mount.maxRecordBytes).toBe(1024 * 1024);
    expect(c.mount.autoProvision).toBe(false);
    expect(c.dataDir).toBe(process.env.LOGFS_DATA ?? '/var/lib/logfs');
    expect(c.logLevel).toBe('info');
    expect(c.gatewaySocket).toBeUndefined();
    // The embedded gateway gets its own defaults.
    expect(c.gateway.kafka.brokers).toEqual([]);
    expect(c.gateway.durability).toBe('journal');
    expect(c.gateway.onFull).toBe('block');
    expect(c.gateway.journal.fsync).toBe('barrier');
  });

  it('rejects unknown keys at any depth with their path', () => {
    expect(configMessage(() => parseDaemonConfig({ mount: { pth: '/x' } }))).toMatch(/mount: .*"pth"/);
    expect(configMessage(() => parseDaemonConfig({ gateway: { journal: { fsnc: 'always' } } }))).toMatch(
      /gateway\.journal: .*"fsnc"/,
    );
    expect(configMessage(() => parseDaemonConfig({ gateway: { kafka: { bogus: 1 } } }))).toMatch(/gateway\.kafka: .*"bogus"/);
  });

  it('reports several problems in one LOGFS_E_CONFIG error', () => {
    const msg = configMessage(() =>
      parseDaemonConfig({
        logLevel: 'loud',
        mount: { blksize: 100, maxRecordBytes: 'big' },
        gateway: { kafka: { brokers: ['kafka1'] }, onFull: 'drop' },
      }),
    );
    expect(msg).toMatch(/^invalid logfsd configuration:/);
    for (const p of ['logLevel:', 'mount.blksize:', 'mount.maxRecordBytes:', 'gateway.kafka.brokers.0:', 'gateway.onFull:']) {
      expect(msg, p).toContain(p);
    }
  });
});

describe('mergeConfig', () => {
  it('lets flags win over the file, deeply', () => {
    const file = { dataDir: '/file', mount: { path: '/mnt/file', blksize: 4096 }, gateway: { provider: 'acme' } };
    const flags = { mount: { path: '/mnt/flag' }, logLevel: 'debug' };
    expect(mergeConfig(file, flags)).toEqual({
      dataDir: '/file',
      mount: { path: '/mnt/flag', blksize: 4096 },
      gateway: { provider: 'acme' },
      logLevel: 'debug',
    });
  });

  it('replaces arrays instead of merging them', () => {
    const merged = mergeConfig({ gateway: { kafka: { brokers: ['a:1', 'b:2'] } } }, { gateway: { kafka: { brokers: ['c:3'] } } });
    expect(merged).toEqual({ gateway: { kafka: { brokers: ['c:3'] } } });
  });

  it('ignores undefined flags, but null replaces', () => {
    expect(mergeConfig({ a: 1, b: { c: 2 } }, { a: undefined, b: { c: undefined } })).toEqual({ a: 1, b: { c: 2 } });
    expect(mergeConfig({ a: 1 }, undefined)).toEqual({ a: 1 });
    expect(mergeConfig({ gateway: { metricsListen: 'h:1' } }, { gateway: { metricsListen: null } })).toEqual({
      gateway: { metricsListen: null },
    });
  });

  it('replaces a scalar with an object and an object with a scalar', () => {
    expect(mergeConfig({ a: 1 }, { a: { b: 2 } })).toEqual({ a: { b: 2 } });
    expect(mergeConfig({ a: { b: 2 } }, { a: 3 })).toEqual({ a: 3 });
    expect(mergeConfig(undefined, { a: 1 })).toEqual({ a: 1 });
  });

  it('does not modify its inputs', () => {
    const base = { mount: { path: '/a' } };
    const over = { mount: { blksize: 4096 } };
    mergeConfig(base, over);
    expect(base).toEqual({ mount: { path: '/a' } });
    expect(over).toEqual({ mount: { blksize: 4096 } });
  });
});

describe('readConfigFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-config-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('reads YAML', async () => {
    const file = write(
      'logfsd.yaml',
      ['dataDir: /srv/logfs', 'mount:', '  path: /mnt/logs', '  blksize: 65536', 'gateway:', '  kafka:', '    brokers: [k1:9092, "k2:9092"]', ''].join('\n'),
    );
    const raw = await readConfigFile(file);
    expect(raw).toEqual({ dataDir: '/srv/logfs', mount: { path: '/mnt/logs', blksize: 65536 }, gateway: { kafka: { brokers: ['k1:9092', 'k2:9092'] } } });
    const c = parseDaemonConfig(raw);
    expect(c.mount.blksize).toBe(65536);
    expect(c.gateway.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
  });

  it('reads JSON', async () => {
    const file = write('logfsd.json', JSON.stringify({ logLevel: 'warn', gateway: { onFull: 'refuse' } }));
    expect(await readConfigFile(file)).toEqual({ logLevel: 'warn', gateway: { onFull: 'refuse' } });
  });

  it('reads an empty YAML file as no settings', async () => {
    const raw = await readConfigFile(write('empty.yaml', ''));
    expect(parseDaemonConfig(raw).mount.path).toBe('/dev/logFS');
  });

  it('explains invalid YAML, naming the file', async () => {
    const file = write('bad.yaml', 'mount:\n  path: [unclosed\n  blksize: 1\n');
    const err = await configErrorOf(readConfigFile(file));
    expect(err.message).toContain(`config file ${file} is not valid YAML`);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('explains invalid JSON, naming the file', async () => {
    const file = write('bad.json', '{"mount": ');
    const err = await configErrorOf(readConfigFile(file));
    expect(err.message).toContain(`config file ${file} is not valid JSON`);
  });

  it('explains a missing file', async () => {
    const file = path.join(dir, 'missing.yaml');
    const err = await configErrorOf(readConfigFile(file));
    expect(err.message).toBe(`cannot read config file ${file}`);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
