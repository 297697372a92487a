/**
 * A separate per-host gateway serving two simulated instances: each daemon connects over its own
 * unix socket; the gateway stamps records with the identity it configured for that socket (and
 * credential), and refuses clients that claim another identity.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOGFSD_NODE_FLAGS } from '../../cli/node-flags.js';
import { connectGateway } from '../../gateway/gateway-client.js';
import { consumeRecords, Daemon, ensureKafka, KAFKA, logfsctl, randomName, ROOT, sh, tempDir, text, waitFor } from './harness.js';

describe('separate gateway with two instances', () => {
  let dir: string;
  let gateway: ChildProcess;
  let gatewayExit: Promise<number | null>;
  const provider = randomName('p');
  const daemons: Daemon[] = [];
  const credential = 'b-credential-0123456789abcdef';

  beforeAll(async () => {
    await ensureKafka();
    dir = await tempDir('logfs-gw-');
    const gwData = path.join(dir, 'gateway');
    await fsp.mkdir(gwData, { recursive: true });
    const config = {
      gateway: {
        provider,
        metricsListen: null,
        kafka: { brokers: [KAFKA] },
        remoteInstances: [
          { id: 'instance-a', socket: path.join(dir, 'a.sock') },
          { id: 'instance-b', socket: path.join(dir, 'b.sock'), credential },
        ],
      },
    };
    await fsp.writeFile(path.join(gwData, 'gw.yaml'), YAML.stringify(config));
    for (const data of [gwData, path.join(dir, 'da', 'data'), path.join(dir, 'db', 'data')]) {
      const r = await logfsctl(['stream', 'create', 'shared', '--data', data, '--provider', provider]);
      expect(r.code, r.stderr).toBe(0);
    }
    const log = fs.openSync(path.join(gwData, 'gateway.log'), 'a');
    gateway = spawn(process.execPath, [...LOGFSD_NODE_FLAGS, path.join(ROOT, 'bin/logfsd.js'), 'gateway', '--data', gwData, '--config', path.join(gwData, 'gw.yaml')], { stdio: ['ignore', log, log] });
    gatewayExit = new Promise((resolve) => gateway.once('exit', resolve));
    await waitFor('gateway sockets', () => fs.existsSync(path.join(dir, 'a.sock')) && fs.existsSync(path.join(dir, 'b.sock')));
    daemons.push(
      await Daemon.start({ dataDir: path.join(dir, 'da', 'data'), mountDir: path.join(dir, 'da', 'mnt'), provider, config: { gatewaySocket: path.join(dir, 'a.sock') } }),
      await Daemon.start({ dataDir: path.join(dir, 'db', 'data'), mountDir: path.join(dir, 'db', 'mnt'), provider, config: { gatewaySocket: path.join(dir, 'b.sock'), gatewayCredential: credential } }),
    );
  });

  afterAll(async () => {
    for (const d of daemons) await d.cleanup();
    gateway?.kill('SIGTERM');
    await gatewayExit;
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('stamps each daemon\'s records with the identity of its socket', async () => {
    const [a, b] = daemons as [Daemon, Daemon];
    await Promise.all([
      sh(`for i in $(seq 1 500); do echo "from-a-$i"; done > ${a.path('shared', 'x')}`),
      sh(`seq -f 'from-b-%g' 1 500 > ${b.path('shared')}`),
    ]);
    const records = await consumeRecords(`logfs.${provider}.shared`, 1000);
    expect(records).toHaveLength(1000);
    for (const r of records) {
      const who = text(r).startsWith('from-a-') ? 'instance-a' : 'instance-b';
      expect(r.instance).toBe(who);
      expect(r.class).toBe(who === 'instance-a' ? 'x' : null);
    }
    expect(records.filter((r) => r.instance === 'instance-a')).toHaveLength(500);
    // Each instance has its own sequence, consecutive in Kafka order.
    const bSeqs = records.filter((r) => r.instance === 'instance-b').map((r) => r.seq);
    expect(bSeqs).toEqual(Array.from({ length: 500 }, (_, i) => bSeqs[0]! + i));
  });

  it('refuses a client that claims another identity or lacks the credential', async () => {
    await expect(connectGateway(path.join(dir, 'a.sock'), undefined, undefined, 'instance-b')).rejects.toMatchObject({
      code: 'LOGFS_E_GATEWAY_REFUSED',
      message: expect.stringContaining('claims instance "instance-b"'),
    });
    await expect(connectGateway(path.join(dir, 'b.sock'), undefined)).rejects.toMatchObject({ code: 'LOGFS_E_GATEWAY_REFUSED' });
    await expect(connectGateway(path.join(dir, 'b.sock'), 'wrong-credential-0000000000')).rejects.toMatchObject({
      code: 'LOGFS_E_GATEWAY_REFUSED',
      message: expect.stringContaining('credential'),
    });
    const ok = await connectGateway(path.join(dir, 'b.sock'), credential, undefined, 'instance-b');
    expect(ok.identity).toEqual({ instance: 'instance-b', provider });
    await ok.close();
  });

  it('fsync through a remote daemon waits for the gateway journal', async () => {
    const [a] = daemons as [Daemon];
    const { stdout } = await sh(`python3 -c "
import os
fd = os.open('${a.path('shared', 'sync')}', os.O_WRONLY | os.O_APPEND)
os.write(fd, b'synced through the socket\\n')
os.fsync(fd)
os.close(fd)
print('ok')"`).then((s) => ({ stdout: s }));
    expect(stdout.trim()).toBe('ok');
    const records = await consumeRecords(`logfs.${provider}.shared`, 1001);
    expect(records.some((r) => r.class === 'sync' && text(r) === 'synced through the socket' && r.instance === 'instance-a')).toBe(true);
  });
});
