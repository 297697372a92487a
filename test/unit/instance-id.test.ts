import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../gateway/config.js';
import { resolveInstanceId } from '../../gateway/instance-id.js';

describe('instance ID precedence: config > metadata endpoint > machine-id', () => {
  let server: http.Server;
  let url = '';
  let machineId = '';

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/id') res.end('i-0abc123\n');
      else if (req.url === '/bad') res.end('not an id!');
      else res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    machineId = path.join(await fsp.mkdtemp(path.join(os.tmpdir(), 'mid-')), 'machine-id');
    await fsp.writeFile(machineId, 'f00dfeed\n');
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await fsp.rm(path.dirname(machineId), { recursive: true, force: true });
  });

  const cfg = (instance: Record<string, unknown>) => parseGatewayConfig({ instance: { machineIdFile: machineId, ...instance } }).instance;

  it('uses the configured ID first', async () => {
    expect(await resolveInstanceId(cfg({ id: 'configured-1', metadataUrl: `${url}/id` }))).toEqual({ id: 'configured-1', source: 'config' });
  });

  it('asks the metadata endpoint when configured', async () => {
    expect(await resolveInstanceId(cfg({ metadataUrl: `${url}/id` }))).toEqual({ id: 'i-0abc123', source: 'metadata' });
  });

  it('fails clearly, without falling back, when the metadata endpoint fails or answers garbage', async () => {
    await expect(resolveInstanceId(cfg({ metadataUrl: `${url}/missing` }))).rejects.toMatchObject({ code: 'LOGFS_E_CONFIG', message: expect.stringContaining('did not answer') });
    await expect(resolveInstanceId(cfg({ metadataUrl: `${url}/bad` }))).rejects.toMatchObject({ message: expect.stringContaining('invalid ID') });
  });

  it('falls back to the machine-id file, and says what to do when it is missing', async () => {
    expect(await resolveInstanceId(cfg({}))).toEqual({ id: 'f00dfeed', source: 'machine-id' });
    await expect(resolveInstanceId(cfg({ machineIdFile: '/nonexistent/machine-id' }))).rejects.toMatchObject({ message: expect.stringContaining('set instance.id') });
  });
});
