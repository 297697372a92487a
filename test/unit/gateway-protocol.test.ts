import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LogfsError } from '../../core/errors.js';
import { encodeFrame, FrameReader, MAX_FRAME_BYTES, type ClientFrame, type ServerFrame } from '../../gateway/gateway-protocol.js';

const FRAMES: (ClientFrame | ServerFrame)[] = [
  { t: 'hello', credential: 'secret-secret-secret', instance: 'i-1' },
  {
    t: 'ingest',
    stream: 'ns/app',
    class: null,
    source: 'fuse',
    lines: [Buffer.from('one'), Buffer.from([0x00, 0xff, 0x0a]), [Buffer.from('part'), 1, true], Buffer.alloc(0)],
  },
  { t: 'barrier', id: 7 },
  { t: 'welcome', instance: 'i-1', provider: 'acme' },
  { t: 'barrier-err', id: 8, message: 'journal write failed' },
  { t: 'full', v: true },
];

/** Frames with their Buffers as hex, so comparisons don't depend on Buffer vs Uint8Array. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { hex: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function protocolError(fn: () => unknown): LogfsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LogfsError);
    expect((err as LogfsError).code).toBe('LOGFS_E_GATEWAY_PROTOCOL');
    return err as LogfsError;
  }
  throw new Error('expected LOGFS_E_GATEWAY_PROTOCOL, nothing was thrown');
}

/** A frame with an arbitrary body (valid length prefix). */
function rawFrame(body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

describe('encodeFrame', () => {
  it('prefixes the MessagePack body with its u32 BE length', () => {
    const f = encodeFrame({ t: 'barrier', id: 1 });
    expect(f.readUInt32BE(0)).toBe(f.length - 4);
    expect(new Packr({ useRecords: false }).unpack(f.subarray(4))).toEqual({ t: 'barrier', id: 1 });
  });
});

describe('FrameReader', () => {
  it('decodes several frames from one chunk, in order', () => {
    const stream = Buffer.concat(FRAMES.map(encodeFrame));
    const got = new FrameReader().push(stream);
    expect(plain(got)).toEqual(plain(FRAMES));
  });

  it('decodes frames split at every byte boundary', () => {
    const stream = Buffer.concat(FRAMES.map(encodeFrame));
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader();
      const got = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      expect(plain(got), `cut at ${cut}`).toEqual(plain(FRAMES));
    }
  });

  it('decodes a stream fed one byte at a time', () => {
    const stream = Buffer.concat(FRAMES.map(encodeFrame));
    const reader = new FrameReader();
    const got: unknown[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...reader.push(stream.subarray(i, i + 1)));
    expect(plain(got)).toEqual(plain(FRAMES));
  });

  it('returns nothing until a frame is complete', () => {
    const f = encodeFrame({ t: 'barrier', id: 3 });
    const reader = new FrameReader();
    expect(reader.push(f.subarray(0, 3))).toEqual([]);
    expect(reader.push(f.subarray(3, f.length - 1))).toEqual([]);
    expect(reader.push(f.subarray(f.length - 1))).toEqual([{ t: 'barrier', id: 3 }]);
  });

  it('leaves decoded lines intact while later frames are assembled', () => {
    const first = encodeFrame({ t: 'ingest', stream: 's', class: 'c', source: 'fuse', lines: [Buffer.from('keep me')] });
    const second = encodeFrame({ t: 'ingest', stream: 's', class: null, source: 'fuse', lines: [Buffer.alloc(64, 0x21)] });
    const reader = new FrameReader();
    const [frame] = reader.push(Buffer.concat([first, second.subarray(0, 10)])) as ClientFrame[];
    const lines = (frame as Extract<ClientFrame, { t: 'ingest' }>).lines;
    expect(reader.push(second.subarray(10))).toHaveLength(1);
    expect(Buffer.from(lines[0] as Buffer).toString()).toBe('keep me');
  });

  it('rejects a length above MAX_FRAME_BYTES before the body arrives', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME_BYTES + 1);
    const err = protocolError(() => new FrameReader().push(head));
    expect(err.message).toContain(String(MAX_FRAME_BYTES + 1));
    head.writeUInt32BE(0xffffffff);
    protocolError(() => new FrameReader().push(head));
  });

  it('accepts a length of exactly MAX_FRAME_BYTES (waits for the body)', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME_BYTES);
    expect(new FrameReader().push(head)).toEqual([]);
  });

  it('rejects a body that is not valid MessagePack', () => {
    const cases = [
      Buffer.alloc(0), // empty body
      Buffer.from([0x82, 0xa1, 0x74]), // map truncated inside
      Buffer.from([0x01, 0x02]), // trailing bytes after a value
      Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff]), // str32 longer than the body
    ];
    for (const body of cases) {
      const err = protocolError(() => new FrameReader().push(rawFrame(body)));
      expect(err.message, body.toString('hex')).toBe('frame is not valid MessagePack');
      expect(err.cause).toBeInstanceOf(Error);
    }
  });

  it('rejects a bad frame that follows good ones in the same chunk', () => {
    const chunk = Buffer.concat([encodeFrame({ t: 'barrier', id: 1 }), rawFrame(Buffer.from([0x92, 0x01]))]);
    protocolError(() => new FrameReader().push(chunk));
  });
});
