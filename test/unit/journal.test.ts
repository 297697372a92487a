import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isLogfsError } from '../../core/errors.js';
import { sleep } from '../../core/retry.js';
import { Journal, type JournalOptions } from '../../gateway/journal.js';
import { ENTRY_HEADER_BYTES, HEADER_BYTES, NODE_IO, readSegmentRun, type SegmentIo } from '../../gateway/journal-segment.js';
import { crc32Entries } from '../../gateway/native.js';

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

const WARN = 40;
const ERROR = 50;

/** A payload whose content names its position, so mix-ups show in failures. */
function payload(i: number, size = 200): Buffer {
  const b = Buffer.alloc(size, i % 251);
  b.write(`entry-${i}-`, 0, 'latin1');
  return b;
}

/** Sizes vary between 100 and 300 bytes, deterministically. */
function payloads(from: number, n: number): Buffer[] {
  return Array.from({ length: n }, (_, k) => payload(from + k, 100 + ((from + k) * 37) % 201));
}

async function readAll(j: Journal, from = 0): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  for (let lsn = from; ; ) {
    const r = await j.read(lsn, 97, 10_000);
    if (r.payloads.length === 0) return out;
    expect(r.lsn).toBeGreaterThanOrEqual(lsn);
    r.payloads.forEach((p, k) => out.set(r.lsn + k, Buffer.from(p)));
    lsn = r.lsn + r.payloads.length;
  }
}

function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();
}

/** File offset of entry k in a segment, by walking its frames. */
function entryOffset(path: string, k: number): number {
  const data = fs.readFileSync(path);
  let pos = HEADER_BYTES;
  for (let i = 0; i < k; i++) pos += ENTRY_HEADER_BYTES + data.readUInt32BE(pos);
  return pos;
}

/** appendFramed of `ps`: each framed as in a segment (length, 4 bytes for the checksum, payload). */
function appendFramed(j: Journal, ps: Buffer[]): number {
  const room = ps.reduce((n, p) => n + ENTRY_HEADER_BYTES + p.length, 0);
  return j.appendFramed(room, (buf, start) => {
    let o = start;
    for (const p of ps) {
      buf.writeUInt32BE(p.length, o);
      buf.fill(0xee, o + 4, o + ENTRY_HEADER_BYTES); // the journal fills in the checksum
      buf.set(p, o + ENTRY_HEADER_BYTES);
      o += ENTRY_HEADER_BYTES + p.length;
    }
    return o;
  });
}

let dir: string;
const opened: Journal[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(join(os.tmpdir(), 'logfs-journal-'));
});

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((j) => j.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function open(opts: Partial<JournalOptions> & { io?: Partial<SegmentIo> } = {}, log?: Logger): Promise<Journal> {
  const j = await Journal.open({ dir, ...opts }, log ?? captureLogger().log);
  opened.push(j);
  return j;
}

describe('Journal', () => {
  it('round-trips entries across segment rolls', async () => {
    const j = await open({ segmentBytes: 4096 });
    const all = payloads(0, 500);
    let last = -1;
    for (let i = 0; i < all.length; i += 50) last = j.append(all.slice(i, i + 50));
    expect(last).toBe(499);
    expect(j.nextLsn).toBe(500);
    await j.whenDurable(last);

    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(10);
    expect(files[0]).toBe('00000000000000000000.seg');
    for (const f of files) {
      const head = fs.readFileSync(join(dir, f)).subarray(0, HEADER_BYTES);
      expect(head.subarray(0, 8).toString('latin1')).toBe('LOGFSJ01');
      expect(head.readUInt32BE(8)).toBe(1);
      // Only a segment's first entry may take it past segmentBytes.
      expect(fs.statSync(join(dir, f)).size).toBeLessThanOrEqual(4096);
    }
    const s = j.stats();
    expect(s.segments).toBe(files.length);
    expect(s.writtenLsn).toBe(499);
    expect(s.durableLsn).toBe(499);
    expect(s.bytes).toBe(files.reduce((sum, f) => sum + fs.statSync(join(dir, f)).size, 0));

    const back = await readAll(j);
    expect(back.size).toBe(500);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer)).toBe(true);
  });

  it('continues LSNs after reopen', async () => {
    let j = await open();
    expect(j.append(payloads(0, 10))).toBe(9);
    await j.close();
    j = await open();
    expect(j.nextLsn).toBe(10);
    expect(j.firstLsn).toBe(0);
    expect(j.stats().recoveredEntries).toBe(10);
    expect(j.append(payloads(10, 5))).toBe(14);
    await j.close();
    j = await open();
    expect(j.nextLsn).toBe(15);
    const back = await readAll(j);
    expect([...back.keys()]).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(back.get(12)?.equals(payload(12, 100 + (12 * 37) % 201))).toBe(true);
  });

  it('truncates a torn tail, logs it, and keeps appending', async () => {
    let j = await open();
    const all = payloads(0, 20);
    j.append(all);
    await j.close();
    const seg = join(dir, segmentFiles(dir)[0] as string);
    const size = fs.statSync(seg).size;
    const lastEntryAt = entryOffset(seg, 19);
    fs.truncateSync(seg, lastEntryAt + 50); // the crash left half of the last entry...
    fs.rmSync(join(dir, 'cursors.json')); // ...before cursors.json recorded LSN 19 as handed out

    const { log, lines } = captureLogger();
    j = await open({}, log);
    const s = j.stats();
    expect(s.recoveredEntries).toBe(19);
    expect(s.truncatedBytes).toBe(50);
    expect(s.nextLsn).toBe(19);
    expect(fs.statSync(seg).size).toBe(lastEntryAt);
    expect(size).toBeGreaterThan(lastEntryAt + 50);
    const warn = lines.find((l) => l.level === WARN);
    expect(warn).toMatchObject({ segment: seg, offset: lastEntryAt, droppedBytes: 50, reason: 'torn entry' });

    expect(j.append([payload(1000)])).toBe(19);
    await j.close();
    const again = captureLogger();
    j = await open({}, again.log);
    expect(again.lines.filter((l) => l.level >= WARN)).toEqual([]);
    const back = await readAll(j);
    expect(back.size).toBe(20);
    expect(back.get(18)?.equals(all[18] as Buffer)).toBe(true);
    expect(back.get(19)?.equals(payload(1000))).toBe(true);
  });

  it('truncates at a checksum error in the tail', async () => {
    let j = await open();
    const all = payloads(0, 30);
    j.append(all);
    await j.close();
    const seg = join(dir, segmentFiles(dir)[0] as string);
    const bad = entryOffset(seg, 14);
    const size = fs.statSync(seg).size;
    const fd = fs.openSync(seg, 'r+');
    fs.writeSync(fd, Buffer.from([0xff ^ (all[14] as Buffer)[20]!]), 0, 1, bad + ENTRY_HEADER_BYTES + 20);
    fs.closeSync(fd);
    fs.rmSync(join(dir, 'cursors.json'));

    const { log, lines } = captureLogger();
    j = await open({}, log);
    expect(j.stats().recoveredEntries).toBe(14);
    expect(j.stats().truncatedBytes).toBe(size - bad);
    expect(lines.find((l) => l.level === WARN)).toMatchObject({ segment: seg, offset: bad, reason: 'checksum mismatch' });
    const back = await readAll(j);
    expect(back.size).toBe(14);
    expect(back.get(13)?.equals(all[13] as Buffer)).toBe(true);
    expect(j.append([payload(7)])).toBe(14);
  });

  it('keeps later segments when a middle segment is corrupt', async () => {
    let j = await open({ segmentBytes: 2048 });
    const all = payloads(0, 100);
    j.append(all);
    await j.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(4);
    const middle = join(dir, files[1] as string);
    const middleBase = Number(files[1]?.slice(0, 20));
    const thirdBase = Number(files[2]?.slice(0, 20));
    const bad = entryOffset(middle, 2);
    const fd = fs.openSync(middle, 'r+');
    fs.writeSync(fd, Buffer.from('XXXX'), 0, 4, bad + 4); // the stored checksum
    fs.closeSync(fd);

    const { log, lines } = captureLogger();
    j = await open({ segmentBytes: 2048 }, log);
    const err = lines.find((l) => l.level === ERROR);
    expect(err).toMatchObject({ segment: middle, offset: bad, lostFromLsn: middleBase + 2, nextSegmentLsn: thirdBase });
    expect(segmentFiles(dir)).toEqual(files);
    expect(j.nextLsn).toBe(100);
    expect(j.stats().recoveredEntries).toBe(100 - (thirdBase - middleBase - 2));

    const back = await readAll(j);
    const expected = Array.from({ length: 100 }, (_, i) => i).filter((i) => i < middleBase + 2 || i >= thirdBase);
    expect([...back.keys()]).toEqual(expected);
    for (const lsn of expected) expect(back.get(lsn)?.equals(all[lsn] as Buffer)).toBe(true);
    // A read that starts inside the gap skips to the next stored entry.
    expect((await j.read(middleBase + 3, 1, 1000)).lsn).toBe(thirdBase);
  });

  it('deletes only segments fully acknowledged by every required consumer, never the active one', async () => {
    const j = await open({ segmentBytes: 2048, requiredConsumers: ['kafka', 'archive'] });
    j.append(payloads(0, 100));
    await j.whenWritten(99);
    const files = segmentFiles(dir);
    const bases = files.map((f) => Number(f.slice(0, 20)));
    const endOfFirst = (bases[1] as number) - 1;

    j.ack('kafka', 99);
    expect(j.stats().segments).toBe(files.length); // archive has acked nothing
    j.ack('archive', endOfFirst - 1);
    expect(j.stats().segments).toBe(files.length);
    j.ack('archive', endOfFirst);
    expect(j.stats().segments).toBe(files.length - 1);
    expect(j.firstLsn).toBe(bases[1]);
    j.ack('archive', 99);
    expect(j.stats().segments).toBe(1);
    expect(j.firstLsn).toBe(bases[bases.length - 1]);
    expect(j.stats().unackedBytes).toBe(0);
    await j.close();
    expect(segmentFiles(dir)).toEqual([files[files.length - 1]]);
  });

  it('persists cursors and meta across reopen', async () => {
    let j = await open({ requiredConsumers: ['kafka'] });
    j.append(payloads(0, 10));
    j.ack('kafka', 6);
    j.ack('tail', 3);
    j.ack('kafka', 2); // cursors never move back
    j.setMeta({ seq: { 'web-1': 41, 'web-2': 7 } });
    await j.close();
    const file = JSON.parse(fs.readFileSync(join(dir, 'cursors.json'), 'utf8')) as Record<string, unknown>;
    expect(file).toEqual({ version: 1, nextLsn: 10, consumers: { kafka: 6, tail: 3 }, meta: { seq: { 'web-1': 41, 'web-2': 7 } } });

    j = await open({ requiredConsumers: ['kafka'] });
    expect(j.cursor('kafka')).toBe(6);
    expect(j.cursor('tail')).toBe(3);
    expect(j.cursor('nobody')).toBe(-1);
    expect(j.meta).toEqual({ seq: { 'web-1': 41, 'web-2': 7 } });
  });

  it('moves an unreadable cursors.json aside and starts consumers from the oldest entry', async () => {
    let j = await open();
    j.append(payloads(0, 3));
    j.ack('kafka', 2);
    await j.close();
    fs.writeFileSync(join(dir, 'cursors.json'), '{"version":1,"consumers":'); // torn by hand
    const { log, lines } = captureLogger();
    j = await open({}, log);
    expect(j.cursor('kafka')).toBe(-1);
    expect(j.nextLsn).toBe(3);
    expect(lines.find((l) => l.level === ERROR)?.movedTo).toMatch(/cursors\.json\.corrupt-\d+$/);
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('cursors.json.corrupt-'))).toHaveLength(1);
  });

  it('writes cursors at most once per interval while acks stream in', async () => {
    const j = await open({ cursorWriteIntervalMs: 100 });
    j.append(payloads(0, 50));
    await j.whenWritten(49);
    const path = join(dir, 'cursors.json');
    for (let i = 0; i < 50; i++) j.ack('tail', i);
    expect(fs.existsSync(path)).toBe(false); // nothing written synchronously
    await new Promise((r) => setTimeout(r, 250));
    expect(JSON.parse(fs.readFileSync(path, 'utf8'))).toMatchObject({ consumers: { tail: 49 } });
  });

  it('never reuses LSNs handed out before, even if a crash lost the entries', async () => {
    let j = await open();
    j.append(payloads(0, 10));
    await j.whenWritten(9);
    j.ack('tail', 9);
    await j.close();
    const seg = join(dir, segmentFiles(dir)[0] as string);
    fs.truncateSync(seg, entryOffset(seg, 5)); // the OS lost entries 5..9 in a power cut

    // A reader that saw up to 9 must not skip new entries, so they start at 10 in a new segment.
    j = await open();
    expect(j.nextLsn).toBe(10);
    expect(j.append([payload(10)])).toBe(10);
    await j.whenDurable(10);
    expect((await j.read(5, 10, 10_000)).lsn).toBe(10);
    expect([...(await readAll(j)).keys()]).toEqual([0, 1, 2, 3, 4, 10]);
    expect(segmentFiles(dir)).toEqual(['00000000000000000000.seg', '00000000000000000010.seg']);
  });

  it('applies backpressure at maxBytes until consumers acknowledge', async () => {
    const frame = ENTRY_HEADER_BYTES + 200;
    const j = await open({ requiredConsumers: ['kafka'], maxBytes: 9 * frame });
    expect(j.isFull()).toBe(false);
    j.append(Array.from({ length: 10 }, (_, i) => payload(i)));
    expect(j.isFull()).toBe(true); // unwritten entries count too
    let roomed = false;
    const room = j.waitForRoom().then(() => (roomed = true));
    await j.whenWritten(9);
    expect(j.isFull()).toBe(true);
    expect(j.stats().unackedBytes).toBe(HEADER_BYTES + 10 * frame);
    expect(roomed).toBe(false);

    j.ack('kafka', 1);
    expect(j.stats().unackedBytes).toBe(8 * frame);
    await room;
    expect(j.isFull()).toBe(false);

    const aborted = new AbortController();
    j.append([payload(10), payload(11)]);
    const blocked = j.waitForRoom(aborted.signal);
    aborted.abort(new Error('gave up'));
    await expect(blocked).rejects.toThrow('gave up');
  });

  it('only counts unwritten bytes against maxBytes with no required consumers', async () => {
    const j = await open({ maxBytes: 1000 });
    j.append(payloads(0, 20));
    expect(j.isFull()).toBe(true);
    await j.whenWritten(19);
    expect(j.isFull()).toBe(false);
    expect(j.stats().unackedBytes).toBe(0);
  });

  it('is full while more than maxPendingBytes wait to be written, even far below maxBytes', async () => {
    const frame = ENTRY_HEADER_BYTES + 200;
    const j = await open({ requiredConsumers: ['kafka'], maxPendingBytes: 5 * frame });
    j.append(payloads(0, 4));
    expect(j.isFull()).toBe(false);
    j.append(payloads(4, 10));
    expect(j.isFull()).toBe(true); // 14 frames in memory, none written yet
    const room = j.waitForRoom();
    await j.whenWritten(13);
    // Written, and nothing acknowledged by Kafka: only maxBytes counts that, and it is far away.
    expect(j.isFull()).toBe(false);
    await room;
  });

  it('shares one fsync among many whenDurable waiters (group commit)', async () => {
    const j = await open({ fsync: 'barrier' });
    await j.whenDurable(j.append([payload(0)]));
    const before = j.stats().fsyncs;

    const waits: Promise<void>[] = [];
    for (let i = 1; i <= 1000; i++) waits.push(j.whenDurable(j.append([payload(i)])));
    await Promise.all(waits);
    expect(j.stats().durableLsn).toBe(1000);
    expect(j.stats().fsyncs - before).toBe(1);

    // 'barrier' fsyncs only when asked.
    await j.whenWritten(j.append(payloads(1001, 100)));
    expect(j.stats().fsyncs - before).toBe(1);
    expect(j.stats().durableLsn).toBe(1000);
  });

  it('fsyncs every write under "always"', async () => {
    const j = await open({ fsync: 'always' });
    for (let i = 0; i < 5; i++) await j.whenWritten(j.append(payloads(i * 10, 10)));
    // Nobody asked for durability, yet every write is followed by an fsync.
    await vi.waitFor(() => expect(j.stats().durableLsn).toBe(49));
    expect(j.stats().fsyncs).toBeGreaterThanOrEqual(5);
  });

  it('fsyncs on a timer under "interval"', async () => {
    const j = await open({ fsync: 'interval', fsyncIntervalMs: 20 });
    j.append(payloads(0, 10));
    await j.whenWritten(9);
    await j.whenDurable(9); // does not force an fsync; the timer does
    expect(j.stats().durableLsn).toBe(9);
  });

  it('has the disk start writing each segment every writebackBytes, in whole pages, one call at a time, and closes a file only after its call', async () => {
    const calls: { fd: number; from: number; to: number }[] = [];
    const closed: number[] = [];
    let release: () => void = () => undefined;
    const j = await open({
      fsync: 'barrier',
      writebackBytes: 64 * 1024,
      segmentBytes: 256 * 1024,
      io: {
        // The first call stays in progress until the test lets it go.
        startWriteback: (fd, offset, length) => {
          calls.push({ fd, from: offset, to: offset + length });
          return calls.length === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
        },
        close: (fd) => {
          closed.push(fd);
          return NODE_IO.close(fd);
        },
      },
    });
    // ~200 KiB in writes of ~20 KiB: the first call covers the first 64+ KiB, and while it is in
    // progress no other is made for that segment.
    for (let i = 0; i < 10; i++) await j.whenWritten(j.append(payloads(i * 100, 100)));
    expect(calls).toHaveLength(1);
    const first = calls[0] as (typeof calls)[number];
    expect(first.from).toBe(0);
    expect(first.to % 4096).toBe(0);
    expect(first.to).toBeGreaterThanOrEqual(64 * 1024);
    // The segment rolls while the call is in progress, and a barrier fsyncs it: its file stays open
    // until the call ends.
    for (let i = 10; i < 16; i++) await j.whenWritten(j.append(payloads(i * 100, 100)));
    expect(segmentFiles(dir).length).toBeGreaterThan(1);
    const durable = j.whenDurable(j.nextLsn - 1);
    await sleep(50);
    expect(closed).not.toContain(first.fd);
    release();
    await durable;
    await vi.waitFor(() => expect(closed).toContain(first.fd));
    for (let i = 16; i < 40; i++) await j.whenWritten(j.append(payloads(i * 100, 100)));
    // Later calls: whole pages, at least 64 KiB each, each segment's back to back from 0 (a call
    // from 0 on an fd seen before is a later segment's file, given the closed one's number).
    expect(calls.length).toBeGreaterThan(3);
    const reached = new Map<number, number>();
    for (const c of calls) {
      expect([0, reached.get(c.fd) ?? 0]).toContain(c.from);
      expect(c.to % 4096).toBe(0);
      expect(c.to - c.from).toBeGreaterThanOrEqual(64 * 1024);
      reached.set(c.fd, c.to);
    }
    // Everything reads back, and the barrier still fsyncs.
    await j.whenDurable(j.nextLsn - 1);
    expect((await readAll(j)).size).toBe(4000);
  });

  it('makes no writeback call with writebackBytes 0 or fsync "always", and logs a failing one once', async () => {
    for (const opts of [{ writebackBytes: 0 }, { fsync: 'always' as const, writebackBytes: 4096 }]) {
      let calls = 0;
      const j = await open({ ...opts, io: { startWriteback: () => ((calls += 1), Promise.resolve()) } });
      await j.whenWritten(j.append(payloads(0, 500)));
      expect(calls).toBe(0);
      await j.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
    }
    const { log, lines } = captureLogger();
    let calls = 0;
    const j = await open(
      { writebackBytes: 4096, io: { startWriteback: () => ((calls += 1), Promise.reject(Object.assign(new Error('sync_file_range: Input/output error'), { code: 'EIO' }))) } },
      log,
    );
    for (let i = 0; i < 5; i++) await j.whenWritten(j.append(payloads(i * 100, 100)));
    await j.whenDurable(j.nextLsn - 1);
    expect(calls).toBeGreaterThan(1);
    const warned = lines.filter((l) => l.level === WARN && /writing back/.test(l.msg));
    expect(warned).toHaveLength(1);
    expect(String(warned[0]?.err)).toContain('Input/output error');
    expect((await readAll(j)).size).toBe(500);
  });

  it('starts writeback through the native module on a real file (Linux)', async (ctx) => {
    if (!NODE_IO.startWriteback) return ctx.skip();
    const j = await open({ writebackBytes: 64 * 1024 });
    for (let i = 0; i < 10; i++) await j.whenWritten(j.append(payloads(i * 100, 100)));
    await j.whenDurable(j.nextLsn - 1);
    expect((await readAll(j)).size).toBe(1000);
    await expect(NODE_IO.startWriteback(-1 >>> 1, 0, 4096)).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('reads the same bytes from the cache and from disk after reopen', async () => {
    let j = await open({ segmentBytes: 64 * 1024 });
    const all = payloads(0, 3000);
    j.append(all);
    await j.whenWritten(2999);
    const fromCache = await readAll(j);
    await j.close();

    j = await open({ segmentBytes: 64 * 1024, cacheBytes: 0 });
    const fromDisk = await readAll(j);
    expect(fromDisk.size).toBe(3000);
    for (let lsn = 0; lsn < 3000; lsn++) {
      expect(fromDisk.get(lsn)?.equals(all[lsn] as Buffer)).toBe(true);
      expect(fromCache.get(lsn)?.equals(all[lsn] as Buffer)).toBe(true);
    }
    // Past an index point inside a segment, with limits.
    const r = await j.read(1500, 5, 1_000_000);
    expect(r.lsn).toBe(1500);
    expect(r.payloads.map((p) => Buffer.from(p))).toEqual(all.slice(1500, 1505));
    const one = await j.read(1500, 100, 1); // at least one entry even past maxBytes
    expect(one.payloads).toHaveLength(1);
    const capped = await j.read(1500, 100, 1000);
    expect(capped.payloads.reduce((n, p) => n + p.length, 0)).toBeLessThanOrEqual(1000);
    expect(capped.payloads.length).toBeGreaterThan(1);
    expect((await j.read(3000, 10, 10_000)).payloads).toEqual([]);
  });

  it('locates written entries on disk for readSegmentRun, which reads them in place, across segments and with limits', async () => {
    const j = await open({ segmentBytes: 64 * 1024 });
    const all = payloads(0, 3000);
    j.append(all);
    await j.whenWritten(2999);
    // Walk everything as the shipper does: located, read, then on from where the run ended.
    const back: Buffer[] = [];
    let hint: { lsn: number; path: string; position: number } | undefined;
    let skipped = 0;
    for (let lsn = 0; ; ) {
      const at = j.locate(lsn, hint);
      if (!at) break;
      expect(at.lsn).toBe(lsn);
      skipped += at.skip;
      const run = await readSegmentRun(at, at.position, at.skip, Math.min(97, at.available), 10_000);
      expect(run.count).toBeGreaterThan(0);
      for (let i = 0; i < run.count; i++) back.push(Buffer.from(run.bytes.subarray(run.starts[i], run.starts[i]! + run.lengths[i]!)));
      lsn += run.count;
      hint = { lsn, path: at.path, position: run.endPosition };
    }
    expect(skipped).toBe(0); // every run after the first started where the one before ended
    expect(back).toHaveLength(3000);
    back.forEach((p, lsn) => expect(p.equals(all[lsn]!)).toBe(true));
    expect(j.locate(3000)).toBeUndefined();

    // Past an index point inside a segment, without a hint: skipping from the index point.
    const at = j.locate(1500)!;
    expect(at.skip).toBeGreaterThan(0);
    const five = await readSegmentRun(at, at.position, at.skip, 5, 1_000_000);
    // Into the caller's arrays, when it gives them.
    const mine = { starts: new Int32Array(64), lengths: new Int32Array(64) };
    const sized: number[] = [];
    const given = await readSegmentRun(at, at.position, at.skip, 5, 1_000_000, { places: (n) => (sized.push(n), mine) });
    expect(sized).toEqual([5]);
    expect(given.starts.buffer).toBe(mine.starts.buffer);
    expect(given.lengths.buffer).toBe(mine.lengths.buffer);
    expect([Array.from(given.starts), Array.from(given.lengths), given.count]).toEqual([Array.from(five.starts), Array.from(five.lengths), five.count]);
    expect(Array.from({ length: five.count }, (_, i) => Buffer.from(five.bytes.subarray(five.starts[i], five.starts[i]! + five.lengths[i]!)))).toEqual(all.slice(1500, 1505));
    expect((await readSegmentRun(at, at.position, at.skip, 100, 1)).count).toBe(1); // at least one entry
    const capped = await readSegmentRun(at, at.position, at.skip, 100, 1000);
    expect(capped.lengths.reduce((n, l) => n + l, 0)).toBeLessThanOrEqual(1000);
    expect(capped.count).toBeGreaterThan(1);
    // A hint for another segment or LSN is not used.
    expect(j.locate(1500, { lsn: 1500, path: 'elsewhere', position: 12 })?.position).toBe(at.position);
    // Into the caller's buffer (which may be longer than asked for), and no more than readBytes at
    // first: then fewer entries, but always the first one whole, read again into a larger buffer.
    const own = Buffer.alloc(256 * 1024, 0xee);
    const asked: number[] = [];
    const into = await readSegmentRun(at, at.position, at.skip, 5, 1_000_000, { buffer: (n) => (asked.push(n), own) });
    expect(into.bytes).toBe(own);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toBeLessThanOrEqual(own.length);
    expect(Array.from({ length: into.count }, (_, i) => Buffer.from(own.subarray(into.starts[i], into.starts[i]! + into.lengths[i]!)))).toEqual(all.slice(1500, 1505));
    const sizes: number[] = [];
    const small = await readSegmentRun(at, at.position, 0, 100, 1_000_000, { buffer: (n) => (sizes.push(n), Buffer.alloc(n)), readBytes: 700 });
    expect(sizes[0]).toBe(700);
    expect(small.count).toBeGreaterThanOrEqual(1);
    expect(small.count).toBeLessThan(100);
    expect(small.endPosition - at.position).toBeLessThanOrEqual(700);
    const grown: number[] = [];
    const tiny = await readSegmentRun(at, at.position, 0, 100, 1_000_000, { buffer: (n) => (grown.push(n), Buffer.alloc(n)), readBytes: 3 });
    expect(tiny.count).toBe(1);
    expect(grown[0]).toBe(3);
    expect(grown.at(-1)).toBeGreaterThanOrEqual(tiny.lengths[0]! + ENTRY_HEADER_BYTES);

    // A damaged entry is refused, naming the segment and offset.
    const victim = at.path;
    const data = fs.readFileSync(victim);
    data[at.position + ENTRY_HEADER_BYTES + 3] ^= 0xff;
    fs.writeFileSync(victim, data);
    await expect(readSegmentRun(at, at.position, 0, 5, 1_000_000)).rejects.toMatchObject({ code: 'LOGFS_E_JOURNAL_CORRUPT', message: expect.stringContaining('checksum mismatch') });
  });

  it('serves disk reads of entries written in this run once they leave the cache', async () => {
    const j = await open({ segmentBytes: 8192, cacheBytes: 2000 });
    const all = payloads(0, 200);
    j.append(all);
    await j.whenWritten(199);
    const back = await readAll(j);
    expect(back.size).toBe(200);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer)).toBe(true);
  });

  it('does not hand out unwritten entries, and wakes waiting readers', async () => {
    const j = await open();
    j.append(payloads(0, 3));
    expect((await j.read(0, 10, 10_000)).payloads.length).toBeLessThanOrEqual(3);
    await j.whenWritten(2);
    const next = j.waitForEntries(2);
    let woke = false;
    void next.then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    j.append([payload(3)]);
    expect((await j.read(3, 10, 10_000)).payloads).toHaveLength(0); // queued, not yet written
    await next;
    expect((await j.read(3, 10, 10_000)).payloads).toHaveLength(1);
  });

  it('deletes the oldest segments beyond retainBytes when nobody is required', async () => {
    const j = await open({ segmentBytes: 2048, retainBytes: 8192 });
    const all = payloads(0, 400);
    for (let i = 0; i < 400; i += 20) await j.whenWritten(j.append(all.slice(i, i + 20)));
    const s = j.stats();
    expect(s.bytes).toBeLessThanOrEqual(8192 + 2048);
    expect(s.firstLsn).toBeGreaterThan(300);
    expect(segmentFiles(dir).length).toBeGreaterThanOrEqual(s.segments); // unlinks may still run
    const r = await j.read(0, 1, 10_000);
    expect(r.lsn).toBe(s.firstLsn);
    expect(r.payloads[0]?.equals(all[s.firstLsn] as Buffer)).toBe(true);
    await j.close();
    expect(segmentFiles(dir)).toHaveLength(s.segments);
  });

  it('keeps entries in memory through failed and partial writes, with backpressure, and loses nothing', async () => {
    let calls = 0;
    const truncatedTo: number[] = [];
    const io: Partial<SegmentIo> = {
      ftruncate: async (fd, length) => {
        truncatedTo.push(length);
        return NODE_IO.ftruncate(fd, length);
      },
      write: async (fd, buf, length, position) => {
        calls += 1;
        if (calls === 2) return NODE_IO.write(fd, buf, Math.floor(length / 2), position); // disk filled mid-write
        if (calls === 3 || calls === 4) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return NODE_IO.write(fd, buf, length, position);
      },
    };
    const { log, lines } = captureLogger();
    const j = await open({ io, maxBytes: 50 * 208, segmentBytes: 16 * 1024, writeRetry: { initialMs: 30, maxMs: 60, factor: 2, jitter: 0 } }, log);
    const all = payloads(0, 100);
    await j.whenDurable(j.append(all.slice(0, 10))); // first write succeeds
    const last = j.append(all.slice(10));
    await new Promise((r) => setTimeout(r, 10));
    expect(j.stats().writeErrors).toBeGreaterThanOrEqual(1);
    expect(j.stats().writtenLsn).toBe(9);
    expect(j.isFull()).toBe(true); // the 90 pending entries are over maxBytes
    await j.whenDurable(last);
    expect(j.stats().writeErrors).toBe(3);
    expect(j.isFull()).toBe(false);
    const errors = lines.filter((l) => l.level === ERROR);
    expect(errors.map((e) => e.errno)).toEqual(['ESHORT', 'ENOSPC', 'ENOSPC']);
    // Before each retry the segment was cut back to the end of the 10 entries written first.
    const goodEnd = HEADER_BYTES + all.slice(0, 10).reduce((n, p) => n + ENTRY_HEADER_BYTES + p.length, 0);
    expect(truncatedTo).toEqual([goodEnd, goodEnd, goodEnd]);
    await j.close();

    const again = captureLogger();
    const k = await open({}, again.log);
    expect(k.stats().truncatedBytes).toBe(0); // the half-written batch was cut off before the retry
    const back = await readAll(k);
    expect(back.size).toBe(100);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer)).toBe(true);
  });

  it('fsyncs a rolled segment only when a barrier asks, none deleted before (acknowledged), and the oldest past four unsynced in the background', async () => {
    // 200-byte payloads: a 4096-byte segment is full at 19 entries.
    const fsynced: number[] = [];
    const closed: number[] = [];
    const io: Partial<SegmentIo> = {
      fsync: (fd) => {
        fsynced.push(fd);
        return NODE_IO.fsync(fd);
      },
      close: (fd) => {
        closed.push(fd);
        return NODE_IO.close(fd);
      },
    };
    const j = await open({ io, segmentBytes: 4096, fsync: 'barrier', requiredConsumers: ['kafka'] });
    const fdOf = (): number => (j as unknown as { active: { fd: number } }).active.fd;
    // Four rolls: nothing fsynced, every file still open.
    const fds: number[] = [];
    let last = -1;
    for (let s = 0; s < 5; s++) {
      last = j.append(Array.from({ length: 19 }, (_, i) => payload(s * 19 + i)));
      await j.whenWritten(last);
      fds.push(fdOf());
    }
    expect(segmentFiles(dir)).toHaveLength(5);
    expect(fsynced).toEqual([]);
    expect(closed).toEqual([]);
    // Kafka acknowledges the first two segments: deleted and closed, with no fsync.
    j.ack('kafka', 2 * 19 - 1);
    await vi.waitFor(() => expect(closed).toEqual(fds.slice(0, 2)));
    expect(segmentFiles(dir)).toHaveLength(3);
    expect(fsynced).toEqual([]);
    // A barrier fsyncs the two rolled ones left, oldest first, then the active one.
    await j.whenDurable(last);
    expect(fsynced.slice(0, 3)).toEqual(fds.slice(2, 5));
    // (Then the directory's descriptor, which may reuse a number.)
    await vi.waitFor(() => expect(closed.slice(0, 4)).toEqual(fds.slice(0, 4)));
    // Seven more rolls with nothing acknowledged nor asked: all but the last four rolled are
    // fsynced and closed in the background.
    fsynced.length = 0;
    closed.length = 0;
    const more: number[] = [];
    for (let s = 5; s < 11; s++) {
      last = j.append(Array.from({ length: 19 }, (_, i) => payload(s * 19 + i)));
      await j.whenWritten(last);
      more.push(fdOf());
    }
    last = j.append([payload(11 * 19)]);
    await j.whenWritten(last); // the seventh roll: segments 4 to 10 rolled, 11 active
    // (In the background, so in any order.)
    const sorted = (xs: (number | undefined)[]): (number | undefined)[] => [...xs].sort((a, b) => a! - b!);
    await vi.waitFor(() => expect(sorted(fsynced)).toEqual(sorted([fds[4], more[0], more[1]])));
    await vi.waitFor(() => expect(sorted(closed)).toEqual(sorted([fds[4], more[0], more[1]])));
    await sleep(50);
    expect(fsynced).toHaveLength(3);
    expect(j.stats().durableLsn).toBe(5 * 19 - 1);
    // Everything reads back.
    await j.whenDurable(last);
    expect((await readAll(j, 2 * 19)).size).toBe(11 * 19 + 1 - 2 * 19);
  });

  it('does not report entries durable while fsync fails, including a rolled segment\'s', async () => {
    // Only the fsyncs of rolled (full) segments fail: the active segment's alone must not count.
    // 200-byte payloads: a 4096-byte segment is full at 19 entries.
    const fullSize = HEADER_BYTES + 19 * (ENTRY_HEADER_BYTES + 200);
    let failing = true;
    const io: Partial<SegmentIo> = {
      fsync: async (fd) => {
        if (failing && fs.fstatSync(fd).size === fullSize) {
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        }
        return NODE_IO.fsync(fd);
      },
    };
    const j = await open({ io, segmentBytes: 4096, writeRetry: { initialMs: 10, maxMs: 20, factor: 2, jitter: 0 } });
    const last = j.append(Array.from({ length: 100 }, (_, i) => payload(i))); // 6 segments
    let durable = false;
    const done = j.whenDurable(last).then(() => (durable = true));
    await j.whenWritten(last);
    await new Promise((r) => setTimeout(r, 80));
    expect(durable).toBe(false);
    expect(j.stats().durableLsn).toBe(-1);
    expect(j.stats().writeErrors).toBeGreaterThan(0);
    failing = false;
    await done;
    expect(j.stats().durableLsn).toBe(last);
    expect(segmentFiles(dir).length).toBeGreaterThan(3);
  });

  it('accepts an empty or header-only last segment and appends into it', async () => {
    let j = await open();
    j.append(payloads(0, 5));
    await j.close();
    const header = fs.readFileSync(join(dir, segmentFiles(dir)[0] as string)).subarray(0, HEADER_BYTES);
    fs.rmSync(join(dir, 'cursors.json'));

    for (const [base, content] of [[5, Buffer.alloc(0)], [6, header]] as const) {
      fs.writeFileSync(join(dir, `${String(base).padStart(20, '0')}.seg`), content);
      const { log, lines } = captureLogger();
      j = await open({}, log);
      expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
      expect(j.nextLsn).toBe(base);
      expect(j.append([payload(base)])).toBe(base);
      await j.close();
      expect(fs.statSync(join(dir, `${String(base).padStart(20, '0')}.seg`)).size).toBe(HEADER_BYTES + ENTRY_HEADER_BYTES + 200);
      fs.rmSync(join(dir, 'cursors.json'));
    }
    j = await open();
    expect([...(await readAll(j)).keys()]).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('close gives up on a disk that never recovers and rejects waiters with LOGFS_E_JOURNAL_IO', async () => {
    const io: Partial<SegmentIo> = {
      write: async () => {
        throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
      },
    };
    const j = await open({ io, closeTimeoutMs: 100, writeRetry: { initialMs: 10, maxMs: 20, factor: 2, jitter: 0 } });
    const durable = j.whenDurable(j.append([payload(0)])).catch((err: unknown) => err);
    await expect(j.close()).rejects.toMatchObject({ code: 'LOGFS_E_JOURNAL_IO' });
    expect(await durable).toMatchObject({ code: 'LOGFS_E_JOURNAL_IO' });
    expect(j.stats().writeErrors).toBeGreaterThan(1);
  });

  it('close is idempotent and refuses appends afterwards', async () => {
    const j = await open();
    j.append(payloads(0, 5));
    const a = j.close();
    const b = j.close();
    expect(a).toBe(b);
    await a;
    await j.close();
    expect(j.stats().durableLsn).toBe(4);
    let thrown: unknown;
    try {
      j.append([payload(5)]);
    } catch (err) {
      thrown = err;
    }
    expect(isLogfsError(thrown, 'LOGFS_E_SHUTTING_DOWN')).toBe(true);
    await expect(j.waitForRoom()).rejects.toMatchObject({ code: 'LOGFS_E_SHUTTING_DOWN' });
    await expect(j.waitForEntries(10)).rejects.toMatchObject({ code: 'LOGFS_E_SHUTTING_DOWN' });
  });

  it('rejects invalid options naming each one', async () => {
    await expect(Journal.open({ dir, segmentBytes: 1, fsync: 'never' as 'always' }, captureLogger().log)).rejects.toSatisfy(
      (err: unknown) =>
        isLogfsError(err, 'LOGFS_E_CONFIG') && err.message.includes('segmentBytes') && err.message.includes('fsync'),
    );
  });

  it('rejects empty entries without appending any of the batch', async () => {
    const j = await open();
    expect(() => j.append([payload(0), Buffer.alloc(0)])).toThrow(/must not be empty/);
    expect(j.nextLsn).toBe(0);
    expect(j.append([payload(0)])).toBe(0);
    await j.whenWritten(0);
    expect((await j.read(0, 10, 10_000)).payloads).toHaveLength(1);
  });
  it.each([
    ['written from where they lie (writev)', true],
    ['copied into the write buffer (no writev)', false],
  ])('appendFramed: runs framed by the caller, mixed with append, across segment rolls and write buffers, %s', async (_, withWritev) => {
    let multiPart = 0;
    const io: Partial<SegmentIo> = {
      writev: withWritev
        ? (fd, bufs, position) => {
            if (bufs.length > 1) multiPart += 1;
            return (NODE_IO.writev as NonNullable<SegmentIo['writev']>)(fd, bufs, position);
          }
        : undefined,
    };
    const j = await open({ segmentBytes: 8192, cacheBytes: 0, io });
    const all = payloads(0, 3000);
    let last = -1;
    for (let i = 0, n = 1; i < all.length; i += n, n = (n * 7) % 23 + 1) {
      const batch = all.slice(i, i + n);
      last = i % 2 === 0 ? appendFramed(j, batch) : j.append(batch);
      expect(last).toBe(i + batch.length - 1);
    }
    await j.whenDurable(last);
    expect(segmentFiles(dir).length).toBeGreaterThan(30);
    for (const f of segmentFiles(dir)) expect(fs.statSync(join(dir, f)).size).toBeLessThanOrEqual(8192);
    const back = await readAll(j);
    expect(back.size).toBe(3000);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer)).toBe(true);
    // The checksums were filled in: the segments read back whole after a reopen.
    await j.close();
    const { log, lines } = captureLogger();
    const again = await open({ segmentBytes: 8192 }, log);
    expect((await readAll(again)).size).toBe(3000);
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
    if (withWritev) expect(multiPart).toBeGreaterThan(10);
  });

  it('an io that replaces write alone sees every write, framed runs included (no writev past it)', async () => {
    let through = 0;
    const io: Partial<SegmentIo> = {
      write: (fd, buf, length, position) => {
        through += length;
        return NODE_IO.write(fd, buf, length, position);
      },
    };
    const j = await open({ io });
    const all = payloads(0, 300);
    j.append(all.slice(0, 1));
    await j.whenDurable(appendFramed(j, all.slice(1)));
    expect(through).toBe(HEADER_BYTES + all.reduce((n, p) => n + ENTRY_HEADER_BYTES + p.length, 0));
    await j.close();
  });

  it('appendFramed runs written from where they lie survive a short and a failed writev, and lose nothing', async () => {
    let calls = 0;
    const truncatedTo: number[] = [];
    const writev = NODE_IO.writev as NonNullable<SegmentIo['writev']>;
    const io: Partial<SegmentIo> = {
      ftruncate: async (fd, length) => {
        truncatedTo.push(length);
        return NODE_IO.ftruncate(fd, length);
      },
      writev: async (fd, bufs, position) => {
        calls += 1;
        if (calls === 2) {
          // The disk filled mid-write: the first half of the first part only.
          const first = bufs[0] as Buffer;
          return writev(fd, [first.subarray(0, first.length >> 1)], position);
        }
        if (calls === 3) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return writev(fd, bufs, position);
      },
    };
    const { log, lines } = captureLogger();
    const j = await open({ io, writeRetry: { initialMs: 10, maxMs: 20, factor: 2, jitter: 0 } }, log);
    const all = payloads(0, 600);
    // A header entry between runs: every write is parts of the write buffer and of slabs.
    await j.whenDurable(appendFramed(j, all.slice(0, 100)));
    const goodEnd = HEADER_BYTES + all.slice(0, 100).reduce((n, p) => n + ENTRY_HEADER_BYTES + p.length, 0);
    j.append(all.slice(100, 101));
    const last = appendFramed(j, all.slice(101, 600));
    await j.whenDurable(last);
    expect(calls).toBeGreaterThanOrEqual(4);
    expect(lines.filter((l) => l.level === ERROR).map((e) => e.errno)).toEqual(['ESHORT', 'ENOSPC']);
    expect(truncatedTo).toEqual([goodEnd, goodEnd]);
    await j.close();
    const again = captureLogger();
    const k = await open({}, again.log);
    expect(k.stats().truncatedBytes).toBe(0);
    const back = await readAll(k);
    expect(back.size).toBe(600);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer)).toBe(true);
  });

  it('keeps in memory exactly the newest written entries that fit cacheBytes, dropping runs of thousands at once', async () => {
    for (const cacheBytes of [0, 150_000]) {
      const j = await open({ cacheBytes });
      // Runs of 6,000 entries: more than a chunk of the journal's entry queue (4,096).
      const all = payloads(0, 30_000);
      for (let i = 0; i < all.length; i += 6000) await j.whenWritten(appendFramed(j, all.slice(i, i + 6000)));
      // With the files gone only what the journal holds in memory can be read.
      for (const f of segmentFiles(dir)) fs.rmSync(join(dir, f));
      let first = all.length;
      for (let bytes = 0; first > 0 && bytes + (all[first - 1] as Buffer).length <= cacheBytes; ) bytes += (all[--first] as Buffer).length;
      if (first < all.length) {
        const r = await j.read(first, 100_000, 1 << 30);
        expect(r.lsn).toBe(first);
        expect(r.payloads.length).toBe(all.length - first);
        for (const [k, p] of r.payloads.entries()) expect(Buffer.from(p).equals(all[first + k] as Buffer)).toBe(true);
      }
      await expect(j.read(first - 1, 1, 1 << 30)).rejects.toThrow();
      await j.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
    }
  });

  it('appendFramed reuses written memory, but never under a payload a reader holds', async () => {
    const j = await open({ cacheBytes: 256 * 1024 });
    // A reader holds payloads of the first runs, read from the cache (written, still in memory).
    const first = payloads(0, 1000);
    appendFramed(j, first.slice(0, 500));
    await j.whenWritten(appendFramed(j, first.slice(500)));
    const held = (await j.read(0, 1000, 1 << 30)).payloads;
    expect(held).toHaveLength(1000);
    // Many more runs than the cache and the slab pool hold, each written before the next.
    for (let i = 1000; i < 40_000; i += 500) await j.whenWritten(appendFramed(j, payloads(i, 500)));
    for (const [k, p] of held.entries()) expect(Buffer.from(p).equals(first[k] as Buffer)).toBe(true);
    // Slabs were reused meanwhile: everything read back is what was appended.
    const back = await readAll(j, 30_000);
    expect(back.size).toBe(10_000);
    const expected = payloads(30_000, 10_000);
    for (const [lsn, p] of back) expect(p.equals(expected[lsn - 30_000] as Buffer)).toBe(true);
  });

  it('appendFramed: one-entry calls grow one run until the journal writes it, across slabs, rolls and reused memory', async () => {
    // One writer's one-line writes: each call a single entry. Writes start at arbitrary points
    // (every few calls a turn of the event loop), sealing the run being grown; appends in between.
    const j = await open({ segmentBytes: 64 * 1024, cacheBytes: 32 * 1024 });
    const all = payloads(0, 30_000);
    let last = -1;
    for (let i = 0; i < all.length; i++) {
      last = i % 997 === 0 ? j.append([all[i] as Buffer]) : appendFramed(j, [all[i] as Buffer]);
      expect(last).toBe(i);
      if (i % 37 === 0) await new Promise((r) => setImmediate(r));
      if (i % 5000 === 0) await j.whenWritten(last);
    }
    await j.whenDurable(last);
    const back = await readAll(j);
    expect(back.size).toBe(30_000);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer), `entry ${lsn}`).toBe(true);
    await j.close();
    const { log, lines } = captureLogger();
    const again = await open({ segmentBytes: 64 * 1024 }, log);
    expect((await readAll(again)).size).toBe(30_000);
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
  });

  it('appendFramed with `framed`: the caller\'s checksums and entry ends are taken as given, and a count that does not match the framing is refused', async () => {
    const j = await open({ segmentBytes: 64 * 1024 });
    const all = payloads(0, 3000);
    // What frameLines (C) does: frames, checksums and notes where each entry ends.
    const framedCall = (ps: Buffer[], said = ps.length): number => {
      const room = ps.reduce((n, p) => n + ENTRY_HEADER_BYTES + p.length, 0);
      return j.appendFramed(
        room,
        (buf, start, ends) => {
          let o = start;
          for (const [i, p] of ps.entries()) {
            buf.writeUInt32BE(p.length, o);
            buf.set(p, o + ENTRY_HEADER_BYTES);
            crc32Entries(buf, o, o + ENTRY_HEADER_BYTES + p.length);
            o += ENTRY_HEADER_BYTES + p.length;
            ends[i] = o;
          }
          return o;
        },
        { count: said },
      );
    };
    let last = -1;
    for (let i = 0; i < all.length; i += 100) last = framedCall(all.slice(i, i + 100));
    expect(last).toBe(all.length - 1);
    try {
      framedCall([payload(1, 10), payload(2, 10)], 1);
      expect.unreachable('a wrong count was taken');
    } catch (err) {
      expect(isLogfsError(err) && err.code).toBe('LOGFS_E_INTERNAL');
    }
    await j.whenDurable(last);
    expect(j.stats().nextLsn).toBe(all.length);
    await j.close();
    // Read back from the files, where each checksum is checked.
    const { log, lines } = captureLogger();
    const again = await open({ segmentBytes: 64 * 1024 }, log);
    const back = await readAll(again);
    expect(back.size).toBe(all.length);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer), `entry ${lsn}`).toBe(true);
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
  });

  it('appendFramed: a run the journal began writing grows no more, so its memory is not reused under entries still to be written', async () => {
    const j = await open({ cacheBytes: 0 });
    const all = Array.from({ length: 3001 }, (_, i) => payload(i, 1000));
    // Written, and out of memory at once (no cache).
    await j.whenWritten(appendFramed(j, [all[0] as Buffer]));
    // Then, with no write in between, almost three slabs (1 MiB each) of one-entry calls.
    let last = 0;
    for (let i = 1; i < all.length; i++) last = appendFramed(j, [all[i] as Buffer]);
    await j.whenDurable(last);
    const back = await readAll(j);
    expect(back.size).toBe(all.length);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer), `entry ${lsn}`).toBe(true);
  });

  it('appendFramed: entries appended while the journal rolls a segment are written in a run that grows no more', async () => {
    // A roll awaits the new file: the calls meanwhile land in the batch being written. Their run
    // must be sealed with it, or its memory would be counted free twice and handed out twice.
    // Opening a segment file takes a while (as on a busy disk): calls land in every roll.
    const slowOpen: Partial<SegmentIo> = { open: async (p, flags) => (await sleep(2), NODE_IO.open(p, flags)) };
    const { log, lines } = captureLogger();
    const j = await open({ segmentBytes: 16 * 1024, cacheBytes: 0, io: slowOpen }, log);
    const all = Array.from({ length: 20_000 }, (_, i) => payload(i, 300));
    let last = -1;
    for (let i = 0; i < all.length; i++) {
      last = appendFramed(j, [all[i] as Buffer]);
      if (i % 10 === 0) await sleep(0);
    }
    await j.whenDurable(last);
    const back = await readAll(j);
    expect(back.size).toBe(all.length);
    for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer), `entry ${lsn}`).toBe(true);
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
  });

  it('appendFramed refuses a run that is empty, overruns its room or frames an entry wrongly, appending nothing', async () => {
    const j = await open();
    expect(() => j.appendFramed(100, (_buf, start) => start)).toThrow(/0 bytes framed/);
    expect(() => j.appendFramed(10, (_buf, start) => start + 20)).toThrow(/20 bytes framed, expected 1 to 10/);
    expect(() =>
      j.appendFramed(100, (buf, start) => {
        buf.writeUInt32BE(90, start); // says 90 bytes, frames 20
        return start + ENTRY_HEADER_BYTES + 20;
      }),
    ).toThrow(/entry 0 .* runs past the end/);
    expect(() =>
      j.appendFramed(100, (buf, start) => {
        buf.writeUInt32BE(0, start);
        return start + ENTRY_HEADER_BYTES;
      }),
    ).toThrow(/entry 0 .* empty/);
    expect(j.nextLsn).toBe(0);
    expect(appendFramed(j, [payload(7)])).toBe(0);
    await j.whenWritten(0);
    expect(Buffer.from((await j.read(0, 10, 10_000)).payloads[0] as Buffer).equals(payload(7))).toBe(true);
  });
});

describe('Journal on a real full filesystem', () => {
  const isRoot = process.getuid?.() === 0;
  let mnt: string | undefined;

  afterEach(() => {
    if (mnt) {
      try {
        execFileSync('umount', [mnt]);
      } catch {
        // best effort; the directory is removed below either way
      }
      fs.rmSync(mnt, { recursive: true, force: true });
      mnt = undefined;
    }
  });

  it('retries writes on ENOSPC until space is freed and loses nothing (root: 1 MiB tmpfs)', async (ctx) => {
    if (!isRoot) ctx.skip('needs root to mount a 1 MiB tmpfs');
    const point = fs.mkdtempSync(join(os.tmpdir(), 'logfs-tmpfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', point], { stdio: 'ignore' });
    } catch {
      fs.rmSync(point, { recursive: true, force: true });
      ctx.skip('mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?)');
    }
    mnt = point;
    const filler = join(point, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(600 * 1024));
    const jdir = join(point, 'journal');
    const { log, lines } = captureLogger();
    let j = await Journal.open(
      { dir: jdir, segmentBytes: 128 * 1024, fsync: 'always', writeRetry: { initialMs: 10, maxMs: 50, factor: 2, jitter: 0 } },
      log,
    );
    const all = payloads(0, 3000); // ~600 KB framed: more than the ~400 KB left
    const last = j.append(all);
    const durable = j.whenDurable(last);
    const deadline = Date.now() + 5000;
    while (j.stats().writeErrors === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(j.stats().writeErrors).toBeGreaterThan(0);
    expect(j.stats().writtenLsn).toBeLessThan(last);
    expect(lines.some((l) => l.level === ERROR && l.errno !== undefined)).toBe(true);

    fs.rmSync(filler); // the operator frees space
    await durable;
    await j.close();

    j = await Journal.open({ dir: jdir }, captureLogger().log);
    try {
      expect(j.stats().truncatedBytes).toBe(0);
      const back = await readAll(j);
      expect(back.size).toBe(3000);
      for (const [lsn, p] of back) expect(p.equals(all[lsn] as Buffer)).toBe(true);
    } finally {
      await j.close();
    }
  });
});
