/**
 * What a syslog message costs the gateway between parsing and the journal (issue 4): `syslogAttrs`
 * and `RecordTemplate.encode` with those attrs, on the syslog benchmark's RFC 5424 messages
 * (bench/writers/syslog-sender.c). Prints a table of nanoseconds per message (median of several
 * runs, one core).
 *
 *   node dist/bench/syslog-encode.js [messages per run, default 200000]
 */
import { RecordTemplate } from '../gateway/record-codec.js';
import { syslogAttrs, type SyslogMessage } from '../inputs/syslog/syslog-message.js';
import { parseSyslog } from '../inputs/syslog/syslog-parse.js';
import { markdownTable } from './markdown-table.js';

const total = Number(process.argv[2] ?? 200_000);
const RUNS = 7;
/** Messages cycled through: about what one ingest call encodes, so they stay in the CPU's cache as there. */
const MESSAGES = 256;

const template = new RecordTemplate({ v: 1, provider: 'acme', stream: 'net/syslog', class: null, instance: 'i-0abc123def4567890', host: 'gw-1', source: 'syslog' });
const t0 = Date.UTC(2026, 10, 22, 8, 39, 54);

/** The benchmark's message `seq` (its header and SD), stamped `ms` after t0, `bytes` long. */
function message(seq: number, ms: number, sd: boolean, bytes = 200): Buffer {
  const stamp = new Date(t0 + ms).toISOString().replace('Z', '123Z');
  const head = `<${131 + (seq % 4)}>1 ${stamp} bench-host bench-app 4242 BENCH ${sd ? `[bench@32473 seq="${String(seq).padStart(12, '0')}"]` : '-'} `;
  return Buffer.from(head.padEnd(bytes, 'abcdefghijklmnopqrstuvwxyz'));
}

// A burst a millisecond apart (the usual case: one second's ISO text serves many messages), and
// messages a second apart (every one starts a new second).
const burst = Array.from({ length: MESSAGES }, (_, i) => parseSyslog(message(i, i, true)));
const spread = Array.from({ length: MESSAGES }, (_, i) => parseSyslog(message(i, i * 1000 + i, true)));
const noSd = Array.from({ length: MESSAGES }, (_, i) => parseSyslog(message(i, i, false)));
const attrsOf = (ms: SyslogMessage[]) => ms.map((m) => syslogAttrs(m));
const burstAttrs = attrsOf(burst);
const noSdAttrs = attrsOf(noSd);
const seq0 = t0 * 1000;

const encode = (ms: SyslogMessage[], attrs: Record<string, unknown>[] | undefined) => (i: number) =>
  template.encode(seq0 + i, t0, ms[i % MESSAGES]!.msg, undefined, attrs?.[i % MESSAGES], 40);

const cases: [string, (i: number) => unknown][] = [
  ['syslogAttrs, messages 1 ms apart', (i) => syslogAttrs(burst[i % MESSAGES]!)],
  ['syslogAttrs, messages 1 s apart', (i) => syslogAttrs(spread[i % MESSAGES]!)],
  ['encode, no attrs (reference)', encode(burst, undefined)],
  ['encode, syslog attrs with SD', encode(burst, burstAttrs)],
  ['encode, syslog attrs without SD', encode(noSd, noSdAttrs)],
  ['syslogAttrs + encode, with SD', (i) => {
    const m = burst[i % MESSAGES]!;
    return template.encode(seq0 + i, t0, m.msg, undefined, syslogAttrs(m), 40);
  }],
];

function nsPerMessage(fn: (i: number) => unknown): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / total;
}

const times = new Map<number, number[]>();
for (let run = 0; run < RUNS + 2; run++) {
  cases.forEach(([, fn], c) => {
    const t = nsPerMessage(fn);
    if (run >= 2) times.set(c, [...(times.get(c) ?? []), t]); // the first two warm the JIT up
  });
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const minimum = (a: number[]): number => Math.min(...a);
const rows = cases.map(([name], c) => [name, median(times.get(c)!), minimum(times.get(c)!)]);
const attrsBytes = encode(burst, burstAttrs)(0).length - encode(burst, undefined)(0).length;
process.stdout.write(`syslog attrs and record encoding, ${total} messages per run, median and best of ${RUNS}; the attrs field takes ${attrsBytes} bytes (with SD)\n\n`);
process.stdout.write(`${markdownTable(['step', 'ns/message (median)', 'ns/message (best)'], rows)}\n`);
