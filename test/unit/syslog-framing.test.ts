import { describe, expect, it } from 'vitest';
import { prng } from './seeded-random.js';
import { TcpFramer, type Frame, type TcpFramerOptions } from '../../inputs/syslog/tcp-framing.js';

function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

interface Shape {
  data: string;
  flags: string[];
  part?: [number, boolean];
  originalBytes?: number;
}

/** Frames as plain objects with latin1 data: exact bytes, readable in failures. */
function shape(frames: Frame[]): Shape[] {
  return frames.map((f) => {
    const s: Shape = { data: f.data.toString('latin1'), flags: [...f.flags] };
    if (f.part !== undefined) s.part = f.part;
    if (f.originalBytes !== undefined) s.originalBytes = f.originalBytes;
    return s;
  });
}

/** Pushes every chunk, then ends the stream; returns everything framed. */
function frame(chunks: (string | Buffer)[], opts: TcpFramerOptions = {}, end = true): Shape[] {
  const framer = new TcpFramer(opts);
  const out: Frame[] = [];
  for (const c of chunks) out.push(...framer.push(typeof c === 'string' ? bytes(c) : c));
  if (end) out.push(...framer.end());
  return shape(out);
}

const plain = (data: string): Shape => ({ data, flags: [] });

/** RFC 6587 section 3.4.1 octet-counted frame. */
function counted(msg: string | Buffer): Buffer {
  const b = typeof msg === 'string' ? bytes(msg) : msg;
  return Buffer.concat([bytes(`${b.length} `), b]);
}


/** Cuts `b` at the given sorted positions. */
function cut(b: Buffer, at: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  out.push(b.subarray(prev));
  return out;
}

describe('TcpFramer: octet counting (RFC 6587 section 3.4.1)', () => {
  it('frames by MSG-LEN, transparently: LF, CR and NUL inside MSG are content', () => {
    const stream = Buffer.concat([counted('<13>1 - - - - - - a'), counted('<13>b\nc\r\n\x00d'), counted('x')]);
    expect(frame([stream])).toEqual([plain('<13>1 - - - - - - a'), plain('<13>b\nc\r\n\x00d'), plain('x')]);
  });

  it('returns frames as views into the chunk when a frame lies within one chunk', () => {
    const chunk = Buffer.concat([counted('hello'), counted('world')]);
    const frames = new TcpFramer().push(chunk);
    expect(frames.map((f) => f.data.buffer === chunk.buffer)).toEqual([true, true]);
  });
});

describe('TcpFramer: non-transparent framing (RFC 6587 section 3.4.2)', () => {
  it('ends frames at LF, CRLF or NUL', () => {
    expect(frame(['<13>a\n<13>b\r\n<13>c\x00<13>d\r\x00'])).toEqual([
      plain('<13>a'),
      plain('<13>b'),
      plain('<13>c'),
      plain('<13>d\r'), // only CRLF is a trailer; a CR before NUL is content
    ]);
  });

  it('skips empty frames and counts them', () => {
    const framer = new TcpFramer();
    const out = framer.push(bytes('\n\r\n<13>a\n\n\x00\x00<13>b\n'));
    expect(shape(out)).toEqual([plain('<13>a'), plain('<13>b')]);
    expect(framer.emptyFrames).toBe(5);
  });

  it('a line without trailer at the end of the stream is an ordinary message', () => {
    expect(frame(['<13>a\n<13>par', 'tial'])).toEqual([plain('<13>a'), plain('<13>partial')]);
  });

  it('drops the CR of a CRLF split across chunks, and keeps a CR that no LF follows', () => {
    expect(frame(['<13>a\r', '\n<13>b\n'])).toEqual([plain('<13>a'), plain('<13>b')]);
    expect(frame(['<13>a\r', 'x\n'])).toEqual([plain('<13>a\rx')]);
    expect(frame(['<13>a\r', '\x00'])).toEqual([plain('<13>a\r')]);
    expect(frame(['<13>a\r'])).toEqual([plain('<13>a\r')]);
    expect(frame(['<13>a\r', '\r', '\n'])).toEqual([plain('<13>a\r')]);
  });

  it('passes binary and invalid UTF-8 through', () => {
    const msg = Buffer.from([0x3c, 0x31, 0x3e, 0xff, 0xfe, 0x80, 0xc3, 0x0d, 0x7f]);
    const out = new TcpFramer().push(Buffer.concat([msg, Buffer.from([0x0a])]));
    expect(out.map((f) => [...f.data])).toEqual([[...msg]]);
  });
});

describe('TcpFramer: mixed framing', () => {
  it('decides per frame by whether it starts with a digit', () => {
    const stream = Buffer.concat([
      counted('<13>one'),
      bytes('<13>two\n'),
      counted('<13>three\nwith LF'),
      bytes('<13>four\r\n'),
      counted('<13>five'),
      bytes('\n'), // the LF some senders add after an octet-counted frame
      counted('<13>six'),
    ]);
    expect(frame([stream])).toEqual(['<13>one', '<13>two', '<13>three\nwith LF', '<13>four', '<13>five', '<13>six'].map(plain));
  });

  it('gives the same frames whatever the chunking: every single cut, every byte alone (property)', () => {
    const stream = Buffer.concat([
      counted('<13>1 - - - - - - octet'),
      bytes('<13>line\r\n'),
      counted('12 digits first\n'),
      bytes('<13>nul\x00'),
      bytes('12a bad count\n'),
      counted(Buffer.from([0xff, 0x00, 0x0a, 0x0d])),
      bytes('<13>last line without trailer\r'),
    ]);
    const opts: TcpFramerOptions = { maxMessageBytes: 8, oversize: 'split' };
    const whole = frame([stream], opts);
    expect(whole.length).toBeGreaterThan(7);
    for (let i = 0; i <= stream.length; i++) {
      expect(frame(cut(stream, [i]), opts), `cut at ${i}`).toEqual(whole);
    }
    expect(frame([...stream].map((b) => Buffer.from([b])), opts)).toEqual(whole);
    const truncating: TcpFramerOptions = { maxMessageBytes: 8, oversize: 'truncate' };
    const wholeT = frame([stream], truncating);
    for (let i = 0; i <= stream.length; i++) {
      expect(frame(cut(stream, [i]), truncating), `cut at ${i}`).toEqual(wholeT);
    }
  });

  it('recovers every message of random mixed streams cut at random places (seeded property)', () => {
    const rnd = prng(7);
    for (let round = 0; round < 300; round++) {
      const messages: Buffer[] = [];
      const parts: Buffer[] = [];
      const n = 1 + Math.floor(rnd() * 20);
      for (let k = 0; k < n; k++) {
        const len = 1 + Math.floor(rnd() * 40);
        if (rnd() < 0.5) {
          const m = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
          messages.push(m);
          parts.push(counted(m));
        } else {
          // A non-transparent message: starts with `<`, holds no trailer, does not end in CR.
          const m = Buffer.from(Array.from({ length: len }, (_, i) => (i === 0 ? 0x3c : 0x20 + Math.floor(rnd() * 0x5f))));
          messages.push(m);
          parts.push(m, bytes(rnd() < 0.3 ? '\r\n' : rnd() < 0.5 ? '\x00' : '\n'));
        }
      }
      const stream = Buffer.concat(parts);
      const at = Array.from({ length: Math.floor(rnd() * 6) }, () => Math.floor(rnd() * (stream.length + 1))).sort((a, b) => a - b);
      const out = frame(cut(stream, at));
      expect(out, `round ${round}`).toEqual(messages.map((m) => plain(m.toString('latin1'))));
    }
  });
});

describe('TcpFramer: oversized frames', () => {
  it("'split' cuts octet-counted and LF frames into flagged, numbered parts", () => {
    const opts: TcpFramerOptions = { maxMessageBytes: 4, oversize: 'split' };
    const expected: Shape[] = [
      { data: '0123', flags: ['split'], part: [0, false] },
      { data: '4567', flags: ['split'], part: [1, false] },
      { data: '89', flags: ['split'], part: [2, true] },
      plain('<ok'),
    ];
    expect(frame(['10 0123456789', '3 <ok'], opts)).toEqual(expected);
    expect(frame(['0123456789\n<ok\n'.replace(/^0/, 'x')], opts)).toEqual([
      { data: 'x123', flags: ['split'], part: [0, false] },
      ...expected.slice(1),
    ]);
  });

  it('keeps a frame of exactly maxMessageBytes whole', () => {
    const opts: TcpFramerOptions = { maxMessageBytes: 4, oversize: 'split' };
    expect(frame(['4 abcd<abc\r\n', '<a', 'bc\r', '\n'], opts)).toEqual([plain('abcd'), plain('<abc'), plain('<abc')]);
  });

  it("'truncate' keeps the first maxMessageBytes, flags them with the full length, and resynchronises", () => {
    const opts: TcpFramerOptions = { maxMessageBytes: 4, oversize: 'truncate' };
    expect(frame(['10 0123', '456789', '<0123456\n<ok\n2 hi'], opts)).toEqual([
      { data: '0123', flags: ['oversize_truncated'], originalBytes: 10 },
      { data: '<012', flags: ['oversize_truncated'], originalBytes: 8 },
      plain('<ok'),
      plain('hi'),
    ]);
  });

  it('an octet count above maxMessageBytes but within maxOctetCount is an oversize frame, not a bad count', () => {
    const out = frame([counted('x'.repeat(100))], { maxMessageBytes: 64, oversize: 'truncate', maxOctetCount: 1000 });
    expect(out).toEqual([{ data: 'x'.repeat(64), flags: ['oversize_truncated'], originalBytes: 100 }]);
  });

  it('a large frame arriving in many chunks is split without losing or reordering a byte', () => {
    const body = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    const stream = counted(body);
    const framer = new TcpFramer({ maxMessageBytes: 4096, oversize: 'split' });
    const out: Frame[] = [];
    for (let i = 0; i < stream.length; i += 1000) out.push(...framer.push(stream.subarray(i, i + 1000)));
    out.push(...framer.end());
    expect(out).toHaveLength(Math.ceil(100_000 / 4096));
    expect(out.map((f) => f.part?.[0])).toEqual(out.map((_, i) => i));
    expect(out.at(-1)?.part?.[1]).toBe(true);
    expect(Buffer.concat(out.map((f) => f.data)).equals(body)).toBe(true);
  });
});

describe('TcpFramer: a peer that stops mid-frame', () => {
  it('flags the partial octet-counted frame truncated', () => {
    expect(frame(['20 <13>1 - - -'])).toEqual([{ data: '<13>1 - - -', flags: ['truncated'] }]);
    expect(frame(['20 '])).toEqual([{ data: '', flags: ['truncated'] }]);
  });

  it('flags a MSG-LEN cut before its SP truncated', () => {
    expect(frame(['<13>a\n12'])).toEqual([plain('<13>a'), { data: '12', flags: ['truncated'] }]);
  });

  it('closes a split frame with its last part, flagged truncated', () => {
    expect(frame(['10 012345'], { maxMessageBytes: 4 })).toEqual([
      { data: '0123', flags: ['split'], part: [0, false] },
      { data: '45', flags: ['split', 'truncated'], part: [1, true] },
    ]);
    // Parts are cut only when more bytes arrive: a stream that stops at max bytes has no parts.
    expect(frame(['10 0123'], { maxMessageBytes: 4 })).toEqual([{ data: '0123', flags: ['truncated'] }]);
    expect(frame(['10 01234567'], { maxMessageBytes: 4 })).toEqual([
      { data: '0123', flags: ['split'], part: [0, false] },
      { data: '4567', flags: ['split', 'truncated'], part: [1, true] },
    ]);
  });

  it('flags a truncated oversize frame both ways', () => {
    expect(frame(['10 012345'], { maxMessageBytes: 4, oversize: 'truncate' })).toEqual([
      { data: '0123', flags: ['oversize_truncated', 'truncated'], originalBytes: 6 },
    ]);
  });

  it('reports being inside a frame and what it holds, for stall timeouts', () => {
    const framer = new TcpFramer();
    expect([framer.inFrame, framer.bufferedBytes]).toEqual([false, 0]);
    framer.push(bytes('12'));
    expect([framer.inFrame, framer.bufferedBytes]).toEqual([true, 2]);
    framer.push(bytes(' abc'));
    expect([framer.inFrame, framer.bufferedBytes]).toEqual([true, 3]);
    framer.push(bytes('defghijkl<13>x\r'));
    expect([framer.inFrame, framer.bufferedBytes]).toEqual([true, 6]);
    framer.push(bytes('\n'));
    expect([framer.inFrame, framer.bufferedBytes]).toEqual([false, 0]);
    framer.push(bytes('<13>y'));
    expect(shape(framer.end())).toEqual([plain('<13>y')]);
    expect(framer.inFrame).toBe(false);
  });
});

describe('TcpFramer: bad octet counts', () => {
  it('takes the rest of the line as a flagged non-transparent frame and goes on', () => {
    const bad = (data: string): Shape => ({ data, flags: ['bad_octet_count'] });
    expect(frame(['12a34\n', '3 <ok'])).toEqual([bad('12a34'), plain('<ok')]);
    expect(frame(['0 x\n<ok\n'])).toEqual([bad('0 x'), plain('<ok')]);
    expect(frame(['007 <13>abc\n'])).toEqual([bad('007 <13>abc')]);
    expect(frame(['5\n<ok\n'])).toEqual([bad('5'), plain('<ok')]);
    expect(frame(['2024-01-01 a plain line\n'])).toEqual([bad('2024-01-01 a plain line')]);
    expect(frame(['12\r\n'])).toEqual([bad('12')]);
    expect(frame(['1\x00'])).toEqual([bad('1')]);
  });

  it('does not believe a count with too many digits or above maxOctetCount', () => {
    const opts: TcpFramerOptions = { maxMessageBytes: 10, maxOctetCount: 100 };
    expect(frame(['101 abc\n<ok\n'], opts)).toEqual([{ data: '101 abc', flags: ['bad_octet_count'] }, plain('<ok')]);
    expect(frame(['100 ', 'x'.repeat(100), '<ok\n'], { ...opts, oversize: 'truncate' })).toEqual([
      { data: 'x'.repeat(10), flags: ['oversize_truncated'], originalBytes: 100 },
      plain('<ok'),
    ]);
    // The default cap is 16 MiB: eight digits at most, and a ninth is refused as it arrives.
    expect(frame(['999999999999 <13>x\n'])).toEqual([{ data: '999999999999 <13>x', flags: ['bad_octet_count'] }]);
    expect(frame(['99999999', '9'])).toEqual([{ data: '999999999', flags: ['bad_octet_count'] }]);
  });

  it('splits or truncates a long bad-count line like any other, keeping both flags', () => {
    expect(frame(['12a456789\n'], { maxMessageBytes: 4 })).toEqual([
      { data: '12a4', flags: ['bad_octet_count', 'split'], part: [0, false] },
      { data: '5678', flags: ['bad_octet_count', 'split'], part: [1, false] },
      { data: '9', flags: ['bad_octet_count', 'split'], part: [2, true] },
    ]);
    expect(frame(['12a456789\n'], { maxMessageBytes: 4, oversize: 'truncate' })).toEqual([
      { data: '12a4', flags: ['bad_octet_count', 'oversize_truncated'], originalBytes: 9 },
    ]);
  });
});

describe('TcpFramer: options', () => {
  it('rejects invalid options, naming them', () => {
    expect(() => new TcpFramer({ maxMessageBytes: 0 })).toThrow(/maxMessageBytes/);
    expect(() => new TcpFramer({ maxMessageBytes: 1.5 })).toThrow(/maxMessageBytes/);
    expect(() => new TcpFramer({ oversize: 'drop' as never })).toThrow(/oversize/);
    expect(() => new TcpFramer({ maxMessageBytes: 100, maxOctetCount: 99 })).toThrow(/maxOctetCount/);
  });
});
