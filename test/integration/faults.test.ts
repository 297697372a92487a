/**
 * Failure scenarios on real parts: the Kafka broker stops while writers write (the journal absorbs,
 * writers block at the bound, everything arrives once when it returns), the refuse policy, and
 * logfsd killed with SIGKILL right after fsync() returned.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordId, type LogRecord } from '../../gateway/index.js';
import { consumeRecords, Daemon, ensureKafka, execFileP, KAFKA, logfsctl, ROOT, sh, text, waitFor } from './harness.js';

const kafkaEnv = { LOGFS_KAFKA_PORT: KAFKA.split(':')[1] ?? '19092' };

async function stopKafka(): Promise<void> {
  await sh(`${ROOT}/scripts/kafka.sh stop`, { env: kafkaEnv });
}

async function startKafka(): Promise<void> {
  await sh(`${ROOT}/scripts/kafka.sh start`, { env: kafkaEnv, timeout: 180_000 });
}

function expectExactlyOnce(records: LogRecord[], expected: string[]): void {
  const ids = records.map(recordId);
  expect(new Set(ids).size, 'no record ID twice').toBe(ids.length);
  expect(records.map(text).sort()).toEqual([...expected].sort());
}

describe('faults', () => {
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    await ensureKafka();
  });

  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.cleanup();
    // A test that failed half-way must not leave the broker down for the next one.
    await startKafka();
  });

  it('Kafka stops while writers write: writers block at the journal bound, then every record arrives exactly once', async () => {
    const d = await Daemon.start({
      kafka: true,
      streams: ['outage'],
      // A small bound so the outage reaches it: about 3 MB of entries will be written.
      config: { gateway: { journal: { maxBytes: 512 * 1024, segmentBytes: 64 * 1024 } } },
    });
    daemons.push(d);
    await sh(`seq -f 'before-%g' 1 2000 >> ${d.path('outage')}`);
    await waitFor('first records in Kafka', async () => (await d.metrics()).logfs_records_out_total === 2000);

    await stopKafka();
    const writer = spawn('python3', ['-c', `
import os
fd = os.open('${d.path('outage')}', os.O_WRONLY | os.O_APPEND)
for i in range(20000):
    os.write(fd, b'during-%d-' % i + b'p' * 60 + b'\\n')
os.close(fd)
`]);
    const writerDone = new Promise<number | null>((resolve) => writer.once('exit', resolve));
    const blocked = await waitFor('a writer blocked at the journal bound', async () => {
      const m = await d.metrics();
      return m.logfs_blocked_writers! >= 1 ? m : undefined;
    }, 60_000, 100);
    expect(blocked.logfs_writes_blocked_total).toBeGreaterThanOrEqual(1);
    expect(blocked.logfs_records_in_total).toBeLessThan(22_000);
    expect(writer.exitCode).toBeNull();
    // kafkajs gives up on a request after its own retries; then the shipper counts the error and backs off.
    await waitFor('the outage counted as Kafka errors', async () => (await d.metrics()).logfs_kafka_errors_total! >= 1, 90_000, 200);
    expect(writer.exitCode).toBeNull();

    await startKafka();
    expect(await writerDone).toBe(0);
    await waitFor('all records acknowledged by Kafka', async () => (await d.metrics()).logfs_records_out_total === 22_000, 120_000, 200);
    // Each record's wait for its ack is observed once; those the journal held through the outage
    // (at least a thousand fit under the bound, and the broker takes seconds to start) waited over 1 s.
    const m = await d.metrics();
    expect(m.logfs_kafka_ack_seconds_count).toBe(22_000);
    expect(m['logfs_kafka_ack_seconds_bucket{le="+Inf"}']).toBe(22_000);
    expect(22_000 - m['logfs_kafka_ack_seconds_bucket{le="1"}']!).toBeGreaterThanOrEqual(1000);
    // logfsctl status reads the same histogram: with more than 1 % over a second, p99 is over it.
    const status = await logfsctl(['status', '--data', d.dataDir]);
    const p99 = /^ack wait +p50 [^ ]+ ms +p99 (>? ?)([0-9.]+) ms/m.exec(status.stdout);
    expect(p99, status.stdout).not.toBeNull();
    expect(Number(p99?.[2])).toBeGreaterThan(1000);
    const records = await consumeRecords(d.topic('outage'), 22_000, 60_000, 1500);
    const expected = [
      ...Array.from({ length: 2000 }, (_, i) => `before-${i + 1}`),
      ...Array.from({ length: 20_000 }, (_, i) => `during-${i}-${'p'.repeat(60)}`),
    ];
    expectExactlyOnce(records, expected);
    // Drained in per-instance order.
    const seqs = records.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }, 300_000);

  it('with onFull "refuse", writes at the bound fail with ENOSPC and are counted; accepted records are kept', async () => {
    const d = await Daemon.start({
      streams: ['refuse'],
      config: {
        gateway: {
          onFull: 'refuse',
          // Nothing listens on port 1: Kafka is unreachable for the whole test.
          kafka: { brokers: ['127.0.0.1:1'], connectionTimeoutMs: 200 },
          journal: { maxBytes: 64 * 1024, segmentBytes: 16 * 1024 },
        },
      },
    });
    daemons.push(d);
    const { stdout } = await execFileP('python3', ['-c', `
import errno, os
fd = os.open('${d.path('refuse')}', os.O_WRONLY | os.O_APPEND)
ok = 0
for i in range(5000):
    try:
        os.write(fd, b'line-%d\\n' % i)
        ok += 1
    except OSError as e:
        print(ok, errno.errorcode[e.errno])
        break
os.close(fd)
`]);
    const [accepted, err] = stdout.trim().split(' ');
    expect(err).toBe('ENOSPC');
    const m = await d.metrics();
    expect(m.logfs_writes_refused_total).toBeGreaterThanOrEqual(1);
    expect(m.logfs_records_in_total).toBe(Number(accepted));
    expect(Number(accepted)).toBeGreaterThan(100);
  });

  it('with durability "kafka", fsync() returns only once Kafka acknowledged the records', async () => {
    const d = await Daemon.start({ kafka: true, streams: ['acked'], config: { gateway: { durability: 'kafka' } } });
    daemons.push(d);
    await sh(`echo warm-up >> ${d.path('acked')}`);
    await stopKafka();
    const writer = spawn('python3', ['-c', `
import os, sys
fd = os.open('${d.path('acked')}', os.O_WRONLY | os.O_APPEND)
for i in range(100):
    os.write(fd, b'acked-%d\\n' % i)
print('written', flush=True)
os.fsync(fd)
print('fsynced', flush=True)
os.close(fd)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    writer.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const done = new Promise<number | null>((resolve) => writer.once('exit', resolve));
    await waitFor('the lines written', () => out.includes('written'));
    await new Promise((r) => setTimeout(r, 3000));
    expect(out).not.toContain('fsynced');
    await startKafka();
    expect(await done).toBe(0);
    expect(out).toContain('fsynced');
    const records = await consumeRecords(d.topic('acked'), 101);
    expectExactlyOnce(records, ['warm-up', ...Array.from({ length: 100 }, (_, i) => `acked-${i}`)]);
  }, 180_000);

  it('logfsd killed with SIGKILL right after fsync() returned: the fsynced records arrive after a restart', async () => {
    const d = await Daemon.start({ kafka: true, streams: ['crash'] });
    daemons.push(d);
    const rt = await d.runtime();
    // Kafka is stopped so nothing can be shipped before the kill: the records survive only in the journal.
    await stopKafka();
    const { stdout } = await execFileP('python3', ['-c', `
import os, signal
fd = os.open('${d.path('crash')}', os.O_WRONLY | os.O_APPEND)
for i in range(3000):
    os.write(fd, b'synced-%d\\n' % i)
os.fsync(fd)
os.kill(${rt.pid}, signal.SIGKILL)
print('killed')
`]);
    expect(stdout.trim()).toBe('killed');
    expect(await d.exited).toBeNull();
    await startKafka();
    // Same data dir and mount point: the stale mount is cleared, the journal recovered.
    await d.launch();
    const records = await consumeRecords(d.topic('crash'), 3000, 60_000, 1500);
    expectExactlyOnce(records, Array.from({ length: 3000 }, (_, i) => `synced-${i}`));
    expect(await d.logTail(200)).toMatch(/clearing a stale mount/);
  }, 180_000);

  it('logfsd killed with SIGKILL while writers write: restart never fails and nothing acknowledged is lost', async () => {
    const d = await Daemon.start({ kafka: true, streams: ['torn'], config: { gateway: { journal: { fsync: 'always' } } } });
    daemons.push(d);
    const rt = await d.runtime();
    const writer = spawn('python3', ['-c', `
import os, sys
fd = os.open('${d.path('torn')}', os.O_WRONLY | os.O_APPEND)
n = 0
try:
    while True:
        os.write(fd, b'w-%d\\n' % n)
        n += 1
        if n % 500 == 0:
            os.fsync(fd)
            print(n, flush=True)
except OSError:
    pass
`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let synced = 0;
    writer.stdout.on('data', (b: Buffer) => {
      const last = b.toString().trim().split('\n').pop();
      if (last) synced = Number(last);
    });
    await waitFor('some fsynced lines', () => synced >= 5000, 60_000);
    process.kill(rt.pid, 'SIGKILL');
    await d.exited;
    writer.kill('SIGKILL');
    const confirmed = synced;
    await d.launch();
    await waitFor('journal drained', async () => {
      const m = await d.metrics();
      return m.logfs_journal_unacked_bytes === 0 && m.logfs_records_out_total! >= 0;
    }, 60_000, 200);
    const records = await consumeRecords(d.topic('torn'), confirmed, 60_000, 1500);
    const texts = new Set(records.map(text));
    for (let i = 0; i < confirmed; i++) expect(texts.has(`w-${i}`), `w-${i}`).toBe(true);
    expect(path.basename(d.mnt)).toBe('mnt');
  }, 180_000);
});
