import { describe, expect, it } from 'vitest';
import { prng } from './seeded-random.js';
import { LineFramer, type FramedLine } from '../../daemon/line-framer.js';

/** Pushes every chunk, then flushes; returns everything emitted. */
function frame(max: number, chunks: Buffer[], flush = true): FramedLine[] {
  const framer = new LineFramer(max);
  const out: FramedLine[] = [];
  for (const c of chunks) framer.push(c, out);
  if (flush) framer.flush(out);
  return out;
}

/** Records as [hex of data, part] pairs: exact bytes, readable in failures. */
function shape(lines: FramedLine[]): [string, [number, boolean] | undefined][] {
  return lines.map((l) => [l.data.toString('hex'), l.part]);
}

function hex(s: string | Buffer): string {
  return (typeof s === 'string' ? Buffer.from(s, 'latin1') : s).toString('hex');
}

function bytewise(b: Buffer): Buffer[] {
  return [...b].map((x) => Buffer.from([x]));
}

/** Joins the parts of cut lines back together; throws if the parts are out of order. */
function reassemble(lines: FramedLine[]): Buffer[] {
  const out: Buffer[] = [];
  let parts: Buffer[] = [];
  for (const l of lines) {
    if (!l.part) {
      expect(parts).toHaveLength(0);
      out.push(Buffer.from(l.data));
      continue;
    }
    expect(l.part[0]).toBe(parts.length);
    parts.push(l.data);
    if (l.part[1]) {
      out.push(Buffer.concat(parts));
      parts = [];
    }
  }
  expect(parts).toHaveLength(0);
  return out;
}


describe('LineFramer', () => {
  it('splits a chunk on newlines', () => {
    const out = frame(1024, [Buffer.from('one\ntwo\nthree\n')], false);
    expect(shape(out)).toEqual([
      [hex('one'), undefined],
      [hex('two'), undefined],
      [hex('three'), undefined],
    ]);
  });

  it('reassembles a line split across several pushes', () => {
    const framer = new LineFramer(1024);
    const out: FramedLine[] = [];
    framer.push(Buffer.from('hel'), out);
    framer.push(Buffer.from('lo wo'), out);
    expect(out).toHaveLength(0);
    expect(framer.bufferedBytes).toBe(8);
    framer.push(Buffer.from('rld\nnext'), out);
    expect(shape(out)).toEqual([[hex('hello world'), undefined]]);
    expect(framer.bufferedBytes).toBe(4);
  });

  it('reassembles lines pushed one byte at a time', () => {
    const input = Buffer.from('first line\nsecond\n\nfourth\n');
    const out = frame(1024, bytewise(input), false);
    expect(shape(out)).toEqual([
      [hex('first line'), undefined],
      [hex('second'), undefined],
      ['', undefined],
      [hex('fourth'), undefined],
    ]);
  });

  it('emits the unterminated last line only at flush', () => {
    const framer = new LineFramer(1024);
    const out: FramedLine[] = [];
    framer.push(Buffer.from('done\npartial'), out);
    expect(shape(out)).toEqual([[hex('done'), undefined]]);
    framer.flush(out);
    expect(shape(out)).toEqual([
      [hex('done'), undefined],
      [hex('partial'), undefined],
    ]);
    expect(framer.bufferedBytes).toBe(0);
    // Nothing left: a second flush adds nothing.
    framer.flush(out);
    expect(out).toHaveLength(2);
  });

  it('flush with nothing buffered emits nothing', () => {
    expect(frame(16, [Buffer.from('a\n')])).toHaveLength(1);
    expect(frame(16, [])).toHaveLength(0);
  });

  it('treats an empty line as an empty record', () => {
    expect(shape(frame(1024, [Buffer.from('a\n\nb\n')]))).toEqual([
      [hex('a'), undefined],
      ['', undefined],
      [hex('b'), undefined],
    ]);
    expect(shape(frame(1024, [Buffer.from('\n')]))).toEqual([['', undefined]]);
  });

  it('ignores an empty push', () => {
    const framer = new LineFramer(8);
    const out: FramedLine[] = [];
    framer.push(Buffer.alloc(0), out);
    framer.flush(out);
    expect(out).toHaveLength(0);
  });

  it('passes NUL bytes and invalid UTF-8 through byte for byte', () => {
    const line1 = Buffer.from([0x00, 0x41, 0x00, 0x00]);
    const line2 = Buffer.from([0xff, 0xfe, 0x80, 0xbf, 0xc3]); // BOM-ish, lone continuations, truncated 2-byte seq
    const input = Buffer.concat([line1, Buffer.from([0x0a]), line2, Buffer.from([0x0a])]);
    const out = frame(1024, [input], false);
    expect(shape(out)).toEqual([
      [line1.toString('hex'), undefined],
      [line2.toString('hex'), undefined],
    ]);
  });

  it('keeps a multi-byte sequence split across pushes intact', () => {
    // "€" is e2 82 ac; cut after its first and second byte.
    const out = frame(1024, [Buffer.from([0x61, 0xe2]), Buffer.from([0x82]), Buffer.from([0xac, 0x0a])], false);
    expect(shape(out)).toEqual([['61e282ac', undefined]]);
    expect(out[0]?.data.toString('utf8')).toBe('a€');
  });

  it('cuts a line longer than maxRecordBytes into numbered parts', () => {
    const line = Buffer.from('abcdefghij'); // 10 bytes, max 4 → 4 + 4 + 2
    const out = frame(4, [line, Buffer.from('\n')], false);
    expect(shape(out)).toEqual([
      [hex('abcd'), [0, false]],
      [hex('efgh'), [1, false]],
      [hex('ij'), [2, true]],
    ]);
    expect(Buffer.concat(out.map((l) => l.data)).equals(line)).toBe(true);
  });

  it('cuts a long line pushed byte by byte the same way', () => {
    const out = frame(4, bytewise(Buffer.from('abcdefghij\nxy\n')), false);
    expect(shape(out)).toEqual([
      [hex('abcd'), [0, false]],
      [hex('efgh'), [1, false]],
      [hex('ij'), [2, true]],
      [hex('xy'), undefined],
    ]);
  });

  it('keeps a line of exactly maxRecordBytes followed by a newline as one record', () => {
    expect(shape(frame(4, [Buffer.from('abcd\n')], false))).toEqual([[hex('abcd'), undefined]]);
    // Newline arriving in a later push does not change that.
    expect(shape(frame(4, [Buffer.from('abcd'), Buffer.from('\n')], false))).toEqual([[hex('abcd'), undefined]]);
  });

  it('keeps a line of exactly maxRecordBytes without a newline as one record at flush', () => {
    expect(shape(frame(4, [Buffer.from('abcd')]))).toEqual([[hex('abcd'), undefined]]);
  });

  it('cuts a line of maxRecordBytes + 1 into two parts', () => {
    expect(shape(frame(4, [Buffer.from('abcde\n')], false))).toEqual([
      [hex('abcd'), [0, false]],
      [hex('e'), [1, true]],
    ]);
    // Same without a newline, at flush.
    expect(shape(frame(4, [Buffer.from('abcde')]))).toEqual([
      [hex('abcd'), [0, false]],
      [hex('e'), [1, true]],
    ]);
  });

  it('cuts a line of exactly twice maxRecordBytes into two full parts', () => {
    expect(shape(frame(3, [Buffer.from('abcdef\n')], false))).toEqual([
      [hex('abc'), [0, false]],
      [hex('def'), [1, true]],
    ]);
  });

  it('starts part numbering again for the next long line', () => {
    expect(shape(frame(2, [Buffer.from('abc\ndef\n')], false))).toEqual([
      [hex('ab'), [0, false]],
      [hex('c'), [1, true]],
      [hex('de'), [0, false]],
      [hex('f'), [1, true]],
    ]);
  });

  it('copies its input: reusing the pushed buffer does not change emitted or pending records', () => {
    const framer = new LineFramer(1024);
    const out: FramedLine[] = [];
    const chunk = Buffer.from('abc\nde');
    framer.push(chunk, out);
    chunk.fill(0x5a); // the caller reuses its buffer
    const chunk2 = Buffer.from('f\n');
    framer.push(chunk2, out);
    chunk2.fill(0x5a);
    expect(shape(out)).toEqual([
      [hex('abc'), undefined],
      [hex('def'), undefined],
    ]);
  });

  it('rejects a maxRecordBytes that is not a positive integer', () => {
    expect(() => new LineFramer(0)).toThrow(RangeError);
    expect(() => new LineFramer(-1)).toThrow(RangeError);
    expect(() => new LineFramer(1.5)).toThrow(RangeError);
    expect(() => new LineFramer(Number.NaN)).toThrow(RangeError);
  });

  it('works with maxRecordBytes 1', () => {
    expect(shape(frame(1, [Buffer.from('ab\n\nc')]))).toEqual([
      [hex('a'), [0, false]],
      [hex('b'), [1, true]],
      ['', undefined],
      [hex('c'), undefined],
    ]);
  });

  it('property: records joined by their parts equal the input split on newlines', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      const len = Math.floor(rand() * 400);
      const input = Buffer.alloc(len);
      for (let i = 0; i < len; i++) input[i] = rand() < 0.08 ? 0x0a : Math.floor(rand() * 256);
      const max = 1 + Math.floor(rand() * 40);
      const chunks: Buffer[] = [];
      for (let at = 0; at < len; ) {
        const n = Math.min(len - at, Math.floor(rand() * 30)); // 0-length chunks included
        chunks.push(input.subarray(at, at + n));
        at += n;
      }
      const out = frame(max, chunks);

      const expected: string[] = [];
      let start = 0;
      for (let i = 0; i < len; i++) {
        if (input[i] === 0x0a) {
          expected.push(input.subarray(start, i).toString('hex'));
          start = i + 1;
        }
      }
      if (start < len) expected.push(input.subarray(start).toString('hex'));

      const ctx = `seed ${seed}, max ${max}`;
      expect(reassemble(out).map((b) => b.toString('hex')), ctx).toEqual(expected);
      for (const l of out) {
        expect(l.data.length, ctx).toBeLessThanOrEqual(max);
        // Only the last part of a cut line may be shorter than max.
        if (l.part && !l.part[1]) expect(l.data.length, ctx).toBe(max);
        // A line is only cut when more of it arrives, so no part is empty.
        if (l.part) expect(l.data.length, ctx).toBeGreaterThan(0);
      }
    }
  });

  it('pushTransient frames exactly like push, and no kept tail shares memory with a batch', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const rand = prng(seed);
      const max = 1 + Math.floor(rand() * 40);
      const chunks = Array.from({ length: 1 + Math.floor(rand() * 12) }, () =>
        Buffer.from(Array.from({ length: Math.floor(rand() * 60) }, () => (rand() < 0.15 ? 0x0a : 0x61 + Math.floor(rand() * 26)))),
      );
      const owned = new LineFramer(max);
      const out: FramedLine[] = [];
      // Each chunk arrives inside a larger batch that the caller gives away, as the fast write path's are.
      const batches = chunks.map((c) => Buffer.concat([Buffer.from('HEAD'), c, Buffer.from('TAIL')]));
      chunks.forEach((c, i) => owned.pushTransient(batches[i]!.subarray(4, 4 + c.length), out));
      const ctx = `seed ${seed}`;
      expect(shape(out), ctx).toEqual(shape(frame(max, chunks, false)));
      // Lines emitted so far are views into the batches (the caller ingests them at once); what is
      // still pending must not be: scribbling over every batch must not change what flush emits.
      const emitted = out.length;
      for (const b of batches) b.fill(0x5a);
      owned.flush(out);
      expect(shape(out.slice(emitted)), ctx).toEqual(shape(frame(max, chunks).slice(emitted)));
    }
  });
});
