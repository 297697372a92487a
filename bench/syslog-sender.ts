/**
 * The syslog load generator (bench/writers/syslog-sender.c): compiled with `cc -O2` into the run's
 * temp dir; `send` runs one client, `sink` a receiver that discards, for the generator's own speed.
 */
import { spawn } from 'node:child_process';
import { z } from 'zod';
import { compileBenchProgram } from './c-writers.js';

/** UDP (RFC 5426), unix datagram, TCP with RFC 6587 octet counting or newline framing. */
export type SendMode = 'udp' | 'unix' | 'tcp-octet' | 'tcp-lf';

export function compileSender(root: string, outDir: string): Promise<string> {
  return compileBenchProgram(root, outDir, 'syslog-sender');
}

/** Bytes of one frame on the wire: the message plus its framing. */
export function frameBytes(mode: SendMode, msgBytes: number): number {
  if (mode === 'tcp-octet') return msgBytes + `${msgBytes} `.length;
  if (mode === 'tcp-lf') return msgBytes + 1;
  return msgBytes;
}

const SendResultSchema = z.strictObject({
  sent: z.number(),
  startNs: z.number(),
  endNs: z.number(),
  cpuS: z.number(),
  /** Datagrams the kernel refused at the sender (counted, never retried). */
  errors: z.number(),
});
export type SendResult = z.infer<typeof SendResultSchema>;

const SinkResultSchema = z.strictObject({
  received: z.number(),
  bytes: z.number(),
  firstNs: z.number(),
  lastNs: z.number(),
});
export type SinkResult = z.infer<typeof SinkResultSchema>;

export interface SendOptions {
  mode: SendMode;
  /** HOST:PORT or a socket path. */
  address: string;
  count: number;
  msgBytes: number;
  /** Wall-clock ms at which to start, so that parallel clients start together. */
  startAtMs: number;
  /** Messages per second; 0 = as fast as the socket takes them. */
  rate: number;
  /** Sequence number of the first message (each message carries its own). */
  firstSeq: number;
}

export function runSender(program: string, o: SendOptions): Promise<SendResult> {
  const startAtNs = BigInt(Math.round(o.startAtMs)) * 1_000_000n;
  const args = ['send', o.mode, o.address, String(o.count), String(o.msgBytes), String(startAtNs), String(o.rate), String(o.firstSeq)];
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    collect(child, (code, out, err) => {
      if (code !== 0) return reject(new Error(`syslog-sender ${args.join(' ')} exited with ${code}: ${err.trim()}`));
      try {
        resolve(SendResultSchema.parse(JSON.parse(out)));
      } catch (e) {
        reject(new Error(`syslog-sender printed ${JSON.stringify(out)}: ${String(e)}`));
      }
    });
    child.once('error', reject);
  });
}

/** Starts a discarding receiver; resolves once it listens, with a promise of what it received. */
export function startSink(
  program: string,
  mode: SendMode,
  address: string,
  msgBytes: number,
  expect: number,
  idleMs: number,
): Promise<{ result: Promise<SinkResult> }> {
  const args = ['sink', mode, address, String(frameBytes(mode, msgBytes)), String(expect), String(idleMs)];
  return new Promise((ready, fail) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let listening = false;
    const result = new Promise<SinkResult>((resolve, reject) => {
      collect(child, (code, out, err) => {
        if (code !== 0) {
          const e = new Error(`syslog-sender ${args.join(' ')} exited with ${code}: ${err.trim()}`);
          if (!listening) fail(e);
          return reject(e);
        }
        try {
          resolve(SinkResultSchema.parse(JSON.parse(out.replace(/^ready\n/, ''))));
        } catch (e) {
          reject(new Error(`syslog-sender sink printed ${JSON.stringify(out)}: ${String(e)}`));
        }
      });
    });
    result.catch(() => undefined); // the caller awaits it; a failure before then must not go unhandled
    child.stdout.on('data', () => {
      if (!listening) {
        listening = true;
        ready({ result });
      }
    });
    child.once('error', fail);
  });
}

function collect(child: ReturnType<typeof spawn>, done: (code: number | null, out: string, err: string) => void): void {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  // 'close', not 'exit': only then has all of stdout been read.
  child.once('close', (code) => done(code, out, err));
}
