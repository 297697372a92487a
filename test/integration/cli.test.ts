/**
 * logfsctl against a running embedded-mode system (no Kafka: the journal is the bus), and the
 * conventional `mount -t fuse.logfs` path through the installed mount helper.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, execFileP, isMounted, logfsctl, sh, tempDir, waitFor } from './harness.js';

describe('logfsctl with an embedded-mode logfsd', () => {
  let d: Daemon;

  beforeAll(async () => {
    d = await Daemon.start({ streams: ['app', 'ns/svc'] });
  });

  afterAll(async () => {
    await d?.cleanup();
  });

  it('stream list, describe, create errors and --help', async () => {
    const list = await logfsctl(['stream', 'list', '--json', '--data', d.dataDir]);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name)).toEqual(['app', 'ns/svc']);
    const table = await logfsctl(['stream', 'list', '--data', d.dataDir]);
    expect(table.stdout).toMatch(/^STREAM\s+PROVIDER/);
    expect(table.stdout).toContain(`logfs.${d.provider}.ns.svc`);
    const desc = await logfsctl(['stream', 'describe', 'ns/svc', '--data', d.dataDir]);
    expect(JSON.parse(desc.stdout)).toMatchObject({ name: 'ns/svc', provider: d.provider, topic: `logfs.${d.provider}.ns.svc`, path: path.join(d.mnt, 'ns/svc') });
    const dup = await logfsctl(['stream', 'create', 'app', '--data', d.dataDir]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('stream "app" already exists');
    const nested = await logfsctl(['stream', 'create', 'app/x', '--data', d.dataDir]);
    expect(nested.code).toBe(1);
    expect(nested.stderr).toContain('conflicts with an existing stream: a stream cannot also be a namespace');
    const zero = await logfsctl(['stream', 'create', 'zero', '--partitions', '0', '--data', d.dataDir]);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/partitions: Too small/);
    const bad = await logfsctl(['stream', 'create', 'bad.name', '--data', d.dataDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/stream name "bad.name" is invalid/);
    const missing = await logfsctl(['stream', 'describe', 'nope', '--data', d.dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('stream "nope" does not exist');
    const unknown = await logfsctl(['frobnicate', '--data', d.dataDir]);
    expect(unknown.code).not.toBe(0);
    const help = await logfsctl(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['up', 'mount', 'umount', 'stream', 'tail', 'status', 'provider', 'token', 'jobs', 'history', 'rollback', 'control']) expect(help.stdout).toContain(`logfsctl ${cmd}`);
  });

  it('tail reads the journal in embedded mode, with --class, --count and --json', async () => {
    await sh(`echo one >> ${d.path('app')}; echo two >> ${d.path('app', 'err')}; echo three >> ${d.path('app', 'err')}; echo other >> ${d.path('ns/svc')}`);
    const all = await logfsctl(['tail', 'app', '--from-beginning', '--count', '3', '--timeout', '10', '--data', d.dataDir]);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    const first = new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${d.instance}#(\\d+) one$`).exec(lines[0]!);
    expect(first, lines[0]).not.toBeNull();
    expect(lines[1]).toBe(lines[1]!.replace(/#\d+ /, `#${Number(first![1]) + 1} `));
    expect(lines[1]).toMatch(/#\d+ \[err\] two$/);
    const errs = await logfsctl(['tail', 'app', '--from-beginning', '--class', 'err', '--count', '2', '--json', '--timeout', '10', '--data', d.dataDir]);
    const recs = errs.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.map((r) => [r.class, r.data, r.dataEncoding])).toEqual([
      ['err', 'two', 'utf8'],
      ['err', 'three', 'utf8'],
    ]);
    const short = await logfsctl(['tail', 'app', '--from-beginning', '--count', '10', '--timeout', '1', '--data', d.dataDir]);
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('only 3 of 10 records arrived');
  });

  it('tail without --from-beginning shows what arrives from now on', async () => {
    const tail = logfsctl(['tail', 'ns/svc', '--count', '1', '--timeout', '20', '--data', d.dataDir]);
    await new Promise((r) => setTimeout(r, 1500));
    await sh(`echo fresh >> ${d.path('ns/svc')}`);
    const r = await tail;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/ fresh$/);
  });

  it('status shows the runtime and the counters', async () => {
    const st = await logfsctl(['status', '--json', '--data', d.dataDir]);
    expect(st.code).toBe(0);
    const { runtime, metrics } = JSON.parse(st.stdout) as { runtime: Record<string, unknown>; metrics: Record<string, number> };
    expect(runtime).toMatchObject({ mountpoint: d.mnt, instance: d.instance, provider: d.provider, embedded: true });
    expect(metrics.logfs_records_in_total).toBeGreaterThanOrEqual(5);
    expect(metrics.logfs_journal_bytes).toBeGreaterThan(0);
    const text = await logfsctl(['status', '--data', d.dataDir]);
    expect(text.stdout).toContain('embedded (journal is the bus)');
    const none = await logfsctl(['status', '--data', path.join(d.dataDir, 'nothing-here')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no logfsd is running');
  });
});

describe('mounting', () => {
  it('logfsctl mount / umount run a background logfsd', async () => {
    const base = await tempDir();
    const data = path.join(base, 'data');
    const mnt = path.join(base, 'mnt');
    expect((await logfsctl(['stream', 'create', 'm', '--data', data])).code).toBe(0);
    const m = await logfsctl(['mount', mnt, '--data', data]);
    expect(m.code, m.stderr).toBe(0);
    expect(await isMounted(mnt)).toBe(true);
    await sh(`echo via-mount >> ${mnt}/m`);
    const again = await logfsctl(['mount', mnt, '--data', data]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already serves');
    const u = await logfsctl(['umount', mnt, '--data', data]);
    expect(u.code, u.stderr).toBe(0);
    expect(await isMounted(mnt)).toBe(false);
    const notMounted = await logfsctl(['umount', mnt, '--data', data]);
    expect(notMounted.code).toBe(1);
    expect(notMounted.stderr).toContain('is not mounted');
  });

  it('mount -t fuse.logfs through the installed helper; a plain umount stops logfsd', async () => {
    expect(fs.existsSync('/sbin/mount.fuse.logfs'), 'scripts/setup.sh installs the mount helper').toBe(true);
    const base = await tempDir();
    const data = path.join(base, 'data');
    const mnt = path.join(base, 'mnt');
    await fsp.mkdir(mnt, { recursive: true });
    expect((await logfsctl(['stream', 'create', 'viamount', '--data', data])).code).toBe(0);
    await execFileP('mount', ['-t', 'fuse.logfs', 'logfs', mnt, '-o', `data=${data},instance=helper-test`]);
    expect(await isMounted(mnt)).toBe(true);
    await sh(`echo through-the-helper >> ${mnt}/viamount`);
    const rt = JSON.parse(await fsp.readFile(path.join(data, 'runtime.json'), 'utf8')) as { pid: number; instance: string };
    expect(rt.instance).toBe('helper-test');
    const tail = await logfsctl(['tail', 'viamount', '--from-beginning', '--count', '1', '--timeout', '10', '--data', data]);
    expect(tail.stdout).toContain('through-the-helper');
    await execFileP('umount', [mnt]);
    await waitFor('logfsd to exit after umount', () => {
      try {
        process.kill(rt.pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 15_000, 100);
  });
});
