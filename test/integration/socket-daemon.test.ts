/**
 * The plain socket input through a real logfsd, switched on by its flag: a client names a stream
 * and class in the header, asks for acknowledgements, and its lines are records of that stream;
 * the input's counters are on the gateway's metrics endpoint.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, journalRecords, waitFor } from './harness.js';

describe('plain socket input in logfsd', () => {
  let d: Daemon;

  beforeAll(async () => {
    d = await Daemon.start({ streams: ['app/events'], args: ['--socket-tcp', '127.0.0.1:0'] });
  });

  afterAll(async () => {
    await d?.cleanup();
  });

  it('takes a header, lines and a half-close, acknowledges them once durable, and counts them', async () => {
    const rt = (await d.runtime()) as unknown as { inputs: string[] };
    const address = rt.inputs.find((a) => a.startsWith('tcp://'))!;
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    const sock = net.connect(port, '127.0.0.1');
    let replies = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (replies += c));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.write('LOGFS/1 stream=app%2Fevents class=audit ack=yes\n');
    sock.write('first event\nsecond event\nthird, no newline');
    sock.end();
    await closed;
    expect(replies.split('\n')).toEqual(expect.arrayContaining(['OK', 'ACK 3']));
    const recs = await journalRecords(d, 'app/events');
    expect(recs.map((r) => r.data.toString())).toEqual(['first event', 'second event', 'third, no newline']);
    expect(recs.every((r) => r.source === 'socket' && r.class === 'audit' && r.instance === d.instance)).toBe(true);
    const m = await waitFor('socket counters', async () => {
      const all = await d.metrics();
      return all.logfs_socket_records_total === 3 ? all : undefined;
    });
    expect(m.logfs_socket_accepted_total).toBe(1);
  });

  it('answers a header naming an unknown stream with ERR and stores nothing', async () => {
    const rt = (await d.runtime()) as unknown as { inputs: string[] };
    const address = rt.inputs.find((a) => a.startsWith('tcp://'))!;
    const sock = net.connect(Number(address.slice(address.lastIndexOf(':') + 1)), '127.0.0.1');
    let replies = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (replies += c));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.write('LOGFS/1 stream=nope\nlost line\n');
    await closed;
    expect(replies).toMatch(/^ERR not-found /);
    expect(await journalRecords(d, 'nope')).toEqual([]);
  });
});
