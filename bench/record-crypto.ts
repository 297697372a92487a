/**
 * What stream encryption costs per record (docs/encryption.md): the gateway's encode with and
 * without sealing, the pipeline's decode with and without opening, and the archive's line with and
 * without sealing, on nginx access-log lines. Prints a table of nanoseconds per record (median of
 * several runs, one core).
 *
 *   node dist/bench/record-crypto.js [records per run, default 200000]
 */
import crypto from 'node:crypto';
import { LineBuffer } from '../pipeline/archive/line-buffer.js';
import { LineEncoder } from '../pipeline/archive/archive-line.js';
import { sealForRest } from '../pipeline/archive/archive-sealing.js';
import { decodeOrFlag } from '../pipeline/source.js';
import { RecordTemplate } from '../gateway/record-codec.js';
import { recordAad, StreamKeyring } from '../gateway/record-crypto.js';
import { markdownTable } from './markdown-table.js';
import { nginxLine } from './nginx-lines.js';

const total = Number(process.argv[2] ?? 200_000);
const RUNS = 7;
const LINES = 4096;

const keys = new StreamKeyring([{ name: 'web/access', provider: 'acme', encrypt: true, key: crypto.randomBytes(32).toString('base64') }]);
const crypt = keys.get('acme', 'web/access')!;
const sealer = crypt.key!.sealer;
const template = new RecordTemplate({ v: 1, provider: 'acme', stream: 'web/access', class: null, instance: 'i-0abc123def4567890', host: 'web-7', source: 'fuse' });
const lines = Array.from({ length: LINES }, (_, i) => Buffer.from(nginxLine(i)));
const seq0 = Date.now() * 1000;
const ts = Date.now();

const encodePlain = (i: number): Buffer => template.encode(seq0 + i, ts, lines[i % LINES]!, undefined, undefined, 40);
const encodeSealed = (i: number): Buffer =>
  template.encode(seq0 + i, ts, sealer.seal(lines[i % LINES]!, recordAad('acme', 'web/access', `i-0abc123def4567890:${seq0 + i}`)), undefined, undefined, 40, sealer.kid);
const plainWire = Array.from({ length: LINES }, (_, i) => encodePlain(i).subarray(40));
const sealedWire = Array.from({ length: LINES }, (_, i) => encodeSealed(i).subarray(40));
const where = () => ({ stream: 'web/access', provider: 'acme', key: null, position: 'bench' });
const plainRecords = plainWire.map((b) => decodeOrFlag(b, where));
const origin = { graph: 'bench', version: 1 };
const encoder = new LineEncoder();
let out = new LineBuffer();

function lineOf(i: number, seal: boolean): void {
  const r = plainRecords[i % LINES]!;
  encoder.encodeTo(out, r, origin, seal ? sealForRest(r, crypt) : undefined);
  if (out.length > 16 * 1024 * 1024) out = new LineBuffer();
}

const cases: [string, string, (i: number) => unknown][] = [
  ['gateway: encode a record', 'plain', encodePlain],
  ['gateway: encode a record', 'sealed', encodeSealed],
  ['pipeline: decode a record', 'plain', (i) => decodeOrFlag(plainWire[i % LINES]!, where, keys)],
  ['pipeline: decode a record', 'opened', (i) => decodeOrFlag(sealedWire[i % LINES]!, where, keys)],
  ['archive: encode a line', 'plain', (i) => lineOf(i, false)],
  ['archive: encode a line', 'sealed', (i) => lineOf(i, true)],
];

function nsPerRecord(fn: (i: number) => unknown): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / total;
}

const times = new Map<number, number[]>();
for (let run = 0; run < RUNS + 2; run++) {
  cases.forEach(([, , fn], c) => {
    const t = nsPerRecord(fn);
    if (run >= 2) times.set(c, [...(times.get(c) ?? []), t]); // the first two warm the JIT up
  });
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const plainOf = new Map<string, number>();
const rows = cases.map(([step, kind], c) => {
  const ns = median(times.get(c)!);
  if (kind === 'plain') plainOf.set(step, ns);
  const base = plainOf.get(step)!;
  return [step, kind, ns, kind === 'plain' ? undefined : ns - base];
});
const avg = lines.reduce((n, l) => n + l.length, 0) / LINES;
process.stdout.write(`Stream encryption, ${total} records per run, median of ${RUNS}; nginx lines of ${Math.round(avg)} bytes on average\n\n`);
process.stdout.write(`${markdownTable(['step', 'stream', 'ns/record', 'added ns'], rows)}\n`);
