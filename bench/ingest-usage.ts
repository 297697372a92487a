/**
 * `node dist/bench/ingest-usage.js`: what measuring per-stream use (records, bytes, ingest time;
 * docs/cost.md) costs the gateway's ingest. Runs an embedded gateway on a temp dir and times
 * ingest calls of 1, 16 and 650 lines of 100 bytes (650 ≈ one 64 KiB write) with the ingest time
 * not measured, measured as shipped (small calls sampled, USAGE_TIMING), and measured on every
 * call; rounds alternate between the three and the median round counts. On a busy machine the
 * differences are within the noise, so the cost of the measuring instructions alone is printed
 * too, timed in a loop of their own. Prints a markdown table.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { FileProvisioningStore } from '../control/store.js';
import { Gateway, USAGE_TIMING } from '../gateway/gateway.js';
import { parseGatewayConfig, type IngestLine } from '../gateway/index.js';
import { markdownTable } from './markdown-table.js';

const LINE = Buffer.alloc(99, 'x');
const WHO = { instance: 'bench-1', provider: 'bench' };
const SHIPPED = { ...USAGE_TIMING };
const MODES = {
  off: { timeAllFromLines: Infinity, sampleOneIn: 2 ** 30 },
  sampled: SHIPPED,
  every: { timeAllFromLines: 0, sampleOneIn: 1 },
};
type Mode = keyof typeof MODES;

/** ns per ingest call, over `calls` calls in chunks, letting the journal write between chunks. */
async function timeIngest(gw: Gateway, lines: IngestLine[], calls: number): Promise<number> {
  const chunk = Math.max(1, Math.floor(20_000 / lines.length));
  let spent = 0;
  for (let done = 0; done < calls; done += chunk) {
    const n = Math.min(chunk, calls - done);
    const t0 = performance.now();
    let pos = -1;
    for (let i = 0; i < n; i++) pos = gw.ingest(WHO, 'bench/app', null, lines, 'fuse');
    spent += performance.now() - t0;
    await gw.barrier(pos);
  }
  return (spent * 1e6) / calls;
}

/** ns per call of what ingest adds to measure its time, in `mode`, for calls of `lines` lines. */
function measuringCost(mode: Mode, lines: number, calls: number): number {
  const timing = MODES[mode];
  const u = { records: 0, bytes: 0, cpuMs: 0 };
  let untimed = 0;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    const timed = lines >= timing.timeAllFromLines || --untimed < 0;
    const started = timed ? performance.now() : 0;
    u.records += lines;
    u.bytes += lines * 99;
    if (timed) {
      let weight = 1;
      if (lines < timing.timeAllFromLines) {
        untimed = Math.floor(Math.random() * (2 * timing.sampleOneIn - 1));
        weight = timing.sampleOneIn;
      }
      u.cpuMs += (performance.now() - started) * weight;
    }
  }
  const ns = ((performance.now() - t0) * 1e6) / calls;
  return u.records === calls * lines ? ns : NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '7' } } });
  const calls = Number(values.calls);
  const rounds = Number(values.rounds);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-bench-usage-'));
  const store = await FileProvisioningStore.open(dir);
  const gw = await Gateway.start(parseGatewayConfig({ metricsListen: null, provider: 'bench', journal: { maxBytes: 1 << 30, fsync: 'barrier' } }), {
    dataDir: dir,
    store,
    log: pino({ level: 'silent' }),
  });
  try {
    const rows: (string | number)[][] = [];
    for (const size of [1, 16, 650]) {
      const lines = Array.from({ length: size }, () => ({ data: LINE }));
      const n = Math.max(200, Math.floor(calls / size));
      await timeIngest(gw, lines, Math.min(n, 20_000)); // warm up
      const times: Record<Mode, number[]> = { off: [], sampled: [], every: [] };
      let measuredMs = 0;
      for (let r = 0; r < rounds; r++) {
        for (const mode of Object.keys(MODES) as Mode[]) {
          Object.assign(USAGE_TIMING, MODES[mode]);
          // The gap drawn under another mode would carry over.
          (gw as unknown as { untimed: number }).untimed = 0;
          const before = gw.streamUsage()['bench/app']!.cpuMs;
          times[mode].push(await timeIngest(gw, lines, n));
          if (mode === 'sampled') measuredMs += gw.streamUsage()['bench/app']!.cpuMs - before;
        }
      }
      Object.assign(USAGE_TIMING, SHIPPED);
      const ingest = median(times.off);
      const wallSampled = times.sampled.reduce((a, b) => a + b, 0) / rounds;
      const pct = (m: Mode): number => (100 * (median(times[m]) - ingest)) / ingest;
      const alone = (m: Mode): number => measuringCost(m, size, 2_000_000);
      rows.push([size, ingest, pct('sampled'), pct('every'), alone('sampled'), (100 * alone('sampled')) / ingest, alone('every'), (100 * alone('every')) / ingest, (100 * (measuredMs * 1e6)) / rounds / n / wallSampled]);
    }
    process.stdout.write(
      markdownTable(
        ['lines/call', 'ingest ns/call', 'A/B sampled %', 'A/B every call %', 'sampled: ns/call', '% of ingest', 'every call: ns/call', '% of ingest', 'usage.cpuMs / wall %'],
        rows,
      ) + '\n',
    );
  } finally {
    await gw.close();
    await store.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ingest-usage: ${String(err)}\n`);
  process.exit(1);
});
