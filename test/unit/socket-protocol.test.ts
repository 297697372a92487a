/** The plain socket protocol without a socket: header parsing and its errors, replies, line framing, config. */
import { describe, expect, it } from 'vitest';
import { SocketLineFramer } from '../../inputs/socket/socket-framer.js';
import { parseSocketInputConfig } from '../../inputs/socket/socket-input.js';
import {
  ackReply,
  errReply,
  formatHeader,
  HEADER_MAX_BYTES,
  parseHeader,
  parseReply,
  SocketProtocolError,
} from '../../inputs/socket/socket-protocol.js';
import type { IngestLine } from '../../gateway/index.js';

const parse = (s: string) => parseHeader(Buffer.from(s));

function errOf(s: string | Buffer): { code: string; message: string } {
  try {
    parseHeader(typeof s === 'string' ? Buffer.from(s) : s);
  } catch (err) {
    expect(err).toBeInstanceOf(SocketProtocolError);
    return { code: (err as SocketProtocolError).errCode, message: (err as Error).message };
  }
  throw new Error(`header ${JSON.stringify(s)} was accepted`);
}

describe('socket header', () => {
  it('parses stream, class and ack mode', () => {
    expect(parse('LOGFS/1 stream=myapp/error class=critical ack=yes')).toEqual({ stream: 'myapp/error', label: 'critical', ack: true });
    expect(parse('LOGFS/1 stream=app')).toEqual({ stream: 'app', label: null, ack: false });
    expect(parse('LOGFS/1 ack=no stream=app')).toEqual({ stream: 'app', label: null, ack: false });
  });

  it('tolerates a trailing CR and repeated spaces', () => {
    expect(parse('LOGFS/1  stream=app   class=x\r')).toEqual({ stream: 'app', label: 'x', ack: false });
  });

  it('percent-decodes values as UTF-8', () => {
    expect(parse('LOGFS/1 stream=app class=disk%20full/caf%C3%A9').label).toBe('disk full/café');
    expect(parse('LOGFS/1 stream=app class=%e2%9c%93').label).toBe('✓');
  });

  it('round-trips formatHeader for labels with spaces, %, = and non-ASCII', () => {
    for (const label of ['a b', '100%', 'k=v', 'über/ünter', "it's (x)*!"]) {
      const line = formatHeader({ stream: 'ns/app', label, ack: true });
      expect(line.endsWith('\n')).toBe(true);
      // Encoded values hold no space, so the header stays four tokens.
      expect(line.slice(0, -1).split(' ')).toHaveLength(4);
      expect(parse(line.slice(0, -1))).toEqual({ stream: 'ns/app', label, ack: true });
    }
  });

  it.each([
    ['', 'bad-header', /empty header/],
    ['HELLO stream=app', 'bad-header', /must start with "LOGFS\/1"/],
    ['logfs/1 stream=app', 'bad-header', /must start/],
    ['LOGFS/2 stream=app', 'version', /version 2 is not supported/],
    ['LOGFS/1', 'bad-header', /must name a stream/],
    ['LOGFS/1 class=x', 'bad-header', /must name a stream/],
    ['LOGFS/1 stream=app colour=red', 'bad-header', /unknown key "colour"/],
    ['LOGFS/1 stream=app stream=other', 'bad-header', /appears twice/],
    ['LOGFS/1 stream', 'bad-header', /not key=value/],
    ['LOGFS/1 =app', 'bad-header', /not key=value/],
    ['LOGFS/1 stream=', 'bad-header', /empty value/],
    ['LOGFS/1 stream=app ack=maybe', 'bad-header', /ack must be "yes" or "no"/],
    ['LOGFS/1 stream=app class=50%', 'bad-header', /"%" not followed by two hex digits/],
    ['LOGFS/1 stream=app class=%ff', 'bad-header', /not UTF-8/],
    ['LOGFS/1 stream=my_app', 'bad-stream', /only letters, digits and "-"/],
    ['LOGFS/1 stream=a//b', 'bad-stream', /non-empty/],
    ['LOGFS/1 stream=app class=a@b', 'bad-class', /control character or "@"/],
    ['LOGFS/1 stream=app class=a/../b', 'bad-class', /"\.\."/],
    ['LOGFS/1 stream=app class=%00', 'bad-class', /control character/],
    [`LOGFS/1 stream=app class=${'x'.repeat(201)}`, 'bad-class', /longer than 200 bytes/],
  ])('refuses %j with ERR %s', (header, code, message) => {
    const e = errOf(header);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it('refuses a header that is not UTF-8', () => {
    expect(errOf(Buffer.from([0x4c, 0x4f, 0x47, 0x46, 0x53, 0x2f, 0x31, 0x20, 0xff])).code).toBe('bad-header');
  });

  it('leaves room for the longest stream and label, percent-encoded', () => {
    const line = formatHeader({ stream: 'a'.repeat(160), label: 'é'.repeat(100), ack: true });
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(HEADER_MAX_BYTES);
  });
});

describe('socket replies', () => {
  it('formats and parses OK, ACK and ERR', () => {
    expect(parseReply('OK')).toEqual({ kind: 'ok' });
    expect(ackReply(42)).toBe('ACK 42\n');
    expect(parseReply('ACK 42')).toEqual({ kind: 'ack', lines: 42 });
    expect(errReply('not-found', 'stream "x"\nis missing')).toBe('ERR not-found stream "x" is missing\n');
    expect(parseReply('ERR busy try later')).toEqual({ kind: 'err', code: 'busy', message: 'try later' });
    expect(() => parseReply('HELLO')).toThrow(/not a server reply/);
  });
});

describe('socket line framing', () => {
  const frame = (policy: 'split' | 'truncate', max: number, chunks: string[], end?: 'eof' | 'idle') => {
    const f = new SocketLineFramer(max, policy);
    const out: IngestLine[] = [];
    let lines = 0;
    for (const c of chunks) lines += f.push(Buffer.from(c, 'latin1'), out);
    const midLine = f.midLine;
    if (end) lines += f.flush(end, out);
    return { out: out.map((r) => ({ ...r, data: r.data.toString('latin1') })), lines, midLine, stats: f.stats };
  };

  it('one record per line, empty lines included, lines across chunks joined', () => {
    const r = frame('split', 100, ['a\n\nb', 'c\n']);
    expect(r.out).toEqual([{ data: 'a' }, { data: '' }, { data: 'bc' }]);
    expect(r.lines).toBe(3);
    expect(r.midLine).toBe(false);
  });

  it('split: an overlong line becomes parts, counted as one line', () => {
    const r = frame('split', 4, ['abcdefghij\nxy\n']);
    expect(r.out).toEqual([
      { data: 'abcd', part: [0, false] },
      { data: 'efgh', part: [1, false] },
      { data: 'ij', part: [2, true] },
      { data: 'xy' },
    ]);
    expect(r.lines).toBe(2);
    expect(r.stats.splitLines).toBe(1);
  });

  it('truncate: one record with the first maxLineBytes, flagged with the real length', () => {
    const r = frame('truncate', 4, ['abcdefg', 'hij\nabcd\n']);
    expect(r.out).toEqual([{ data: 'abcd', attrs: { truncated: true, lineBytes: 10 } }, { data: 'abcd' }]);
    expect(r.lines).toBe(2);
    expect(r.stats).toMatchObject({ truncatedLines: 1, truncatedBytes: 6 });
  });

  it('a line cut by the end of the connection is emitted and flagged with the reason', () => {
    expect(frame('split', 100, ['a\npartial'], 'eof')).toMatchObject({
      out: [{ data: 'a' }, { data: 'partial', attrs: { unterminated: 'eof' } }],
      lines: 2,
      midLine: true,
    });
    expect(frame('split', 4, ['abcdefg'], 'idle').out).toEqual([
      { data: 'abcd', part: [0, false] },
      { data: 'efg', part: [1, true], attrs: { unterminated: 'idle' } },
    ]);
    expect(frame('truncate', 4, ['abcdefg'], 'idle').out).toEqual([{ data: 'abcd', attrs: { truncated: true, lineBytes: 7, unterminated: 'idle' } }]);
  });

  it('nothing to flush after a complete line', () => {
    const r = frame('split', 100, ['a\n'], 'eof');
    expect(r.out).toEqual([{ data: 'a' }]);
    expect(r.stats.unterminatedLines).toBe(0);
  });

  it('keeps bytes as bytes: NUL, CR and invalid UTF-8', () => {
    const f = new SocketLineFramer(100, 'split');
    const out: IngestLine[] = [];
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x0d, 0x41]);
    f.push(Buffer.concat([bytes, Buffer.from([0x0a])]), out);
    expect(out[0]?.data.equals(bytes)).toBe(true);
  });
});

describe('socket input config', () => {
  it('fills defaults', () => {
    expect(parseSocketInputConfig({ tcp: '127.0.0.1:0' })).toEqual({
      unix: null,
      unixMode: 0o660,
      tcp: '127.0.0.1:0',
      tls: null,
      maxLineBytes: 1024 * 1024,
      oversize: 'split',
      maxConnections: 1024,
      idleTimeoutMs: 30_000,
    });
    expect(parseSocketInputConfig({ tcp: '[::1]:5170' }).tcp).toBe('[::1]:5170');
  });

  it('reports every problem at once', () => {
    expect(() => parseSocketInputConfig({ tls: { cert: 'c', key: 'k' }, oversize: 'drop', colour: 1 })).toThrow(
      /oversize[\s\S]*colour|colour[\s\S]*oversize/,
    );
    expect(() => parseSocketInputConfig({ tls: { cert: 'c', key: 'k' } })).toThrow(/set unix, tcp or both[\s\S]*tls needs a tcp listener/);
    expect(() => parseSocketInputConfig({ tcp: 'localhost' })).toThrow(/expected host:port/);
  });
});
