import crypto from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
// `native`: the build setup.sh makes (scripts/build-native.sh), found from the sources by gateway/native.ts.
import { crc32EntriesJs, nativeGateway as native } from '../../gateway/native.js';

/** `payloads` framed as journal entries (u32 length | u32 checksum, left 0 | payload) at `at`. */
function framed(payloads: Buffer[], at: number): { bytes: Buffer; end: number } {
  const bytes = Buffer.alloc(at + payloads.reduce((n, p) => n + 8 + p.length, 0) + 3, 0xee);
  let o = at;
  for (const p of payloads) {
    bytes.writeUInt32BE(p.length, o);
    bytes.writeUInt32BE(0, o + 4);
    p.copy(bytes, o + 8);
    o += 8 + p.length;
  }
  return { bytes, end: o };
}

describe.each([
  ['zlib, one call per entry', crc32EntriesJs],
  ['native (dist/native/logfs-gateway.node)', native?.crc32Entries],
])('journal entry checksums, %s', (_name, crc32Entries) => {
  it('writes zlib crc32 of each payload into its header, and nothing else', () => {
    expect(crc32Entries, 'scripts/build-native.sh must have built dist/native/logfs-gateway.node').toBeTypeOf('function');
    const payloads = [Buffer.alloc(0), ...Array.from({ length: 40 }, (_, i) => crypto.randomBytes(i * 13)), crypto.randomBytes(70_000)];
    const { bytes, end } = framed(payloads, 5);
    const before = Buffer.from(bytes);
    crc32Entries!(bytes, 5, end);
    let o = 5;
    for (const p of payloads) {
      expect(bytes.readUInt32BE(o + 4)).toBe(crc32(p));
      o += 8 + p.length;
    }
    // Only the checksum fields changed.
    o = 5;
    for (const p of payloads) {
      before.writeUInt32BE(crc32(p), o + 4);
      o += 8 + p.length;
    }
    expect(bytes.equals(before)).toBe(true);
  });

  it('matches zlib for every payload size from 0 to 700 bytes and at every alignment (the folding path takes 64 bytes and more, 16 at a time)', () => {
    const sizes = [...Array.from({ length: 701 }, (_, i) => i), 4095, 4096, 4097, 65_537];
    for (const at of [0, 1, 7, 8, 15]) {
      const payloads = sizes.map((n) => crypto.randomBytes(n));
      const { bytes, end } = framed(payloads, at);
      crc32Entries!(bytes, at, end);
      let o = at;
      for (const p of payloads) {
        expect(bytes.readUInt32BE(o + 4), `${p.length} bytes at ${at}`).toBe(crc32(p));
        o += 8 + p.length;
      }
      if (native) {
        // The producer thread's walk (scanEntries) checks them all.
        const result = new Int32Array(5);
        const places = new Int32Array(payloads.length);
        const entries = bytes.subarray(at, end);
        native.scanEntries(entries, entries.length, entries.length, 0, payloads.length, 2 ** 53, places, new Int32Array(payloads.length), result);
        expect([result[0], result[4]]).toEqual([payloads.length, -1]);
      }
    }
  });

  it('refuses a frame that runs past the end', () => {
    const { bytes, end } = framed([crypto.randomBytes(10), crypto.randomBytes(20)], 0);
    expect(() => crc32Entries!(bytes, 0, end - 1)).toThrow(/runs past the end/);
    expect(() => crc32Entries!(bytes, 0, 4)).toThrow(/runs past the end/);
  });
});

it('native checksums refuse bounds outside the bytes', () => {
  expect(() => native!.crc32Entries(Buffer.alloc(8), 0, 9)).toThrow(/within the bytes/);
  expect(() => native!.crc32Entries('x' as never, 0, 0)).toThrow(/expected/);
});

describe('frameLines (journal entries of plain lines, framed in C)', () => {
  const header = Buffer.from([1, 1, 0x74, 1, 0x6b]); // format 1, topic "t", key "k"
  const prefix = Buffer.from([0xa1, 0x76, 0x01]); // "v": 1
  const src = Buffer.from('one\n\ntwo three\n');

  it('checksums each entry as the journal would, and notes where each ends', () => {
    const dst = Buffer.alloc(1024);
    const ends = new Int32Array(3).fill(-1);
    const end = native!.frameLines(src, 0, src.length, dst, 16, header, prefix, 7, 1000, ends);
    expect(Array.from(ends).at(-1)).toBe(end);
    // Walking the entries by their lengths finds the same ends, and each checksum is zlib's.
    let pos = 16;
    for (const e of ends) {
      const len = dst.readUInt32BE(pos);
      expect(dst.readUInt32BE(pos + 4)).toBe(crc32(dst.subarray(pos + 8, pos + 8 + len)));
      pos += 8 + len;
      expect(pos).toBe(e);
    }
    // Without ends, the same bytes.
    const again = Buffer.alloc(1024);
    expect(native!.frameLines(src, 0, src.length, again, 16, header, prefix, 7, 1000)).toBe(end);
    expect(native!.frameLines(src, 0, src.length, Buffer.alloc(1024), 16, header, prefix, 7, 1000, undefined)).toBe(end);
    expect(again.subarray(16, end).equals(dst.subarray(16, end))).toBe(true);
  });

  it('refuses ends with no room for every entry', () => {
    expect(() => native!.frameLines(src, 0, src.length, Buffer.alloc(1024), 0, header, prefix, 7, 1000, new Int32Array(2))).toThrow(/ends have no room/);
    expect(() => native!.frameLines(src, 0, src.length, Buffer.alloc(1024), 0, header, prefix, 7, 1000, new Uint32Array(3) as never)).toThrow(/Int32Array/);
  });
});

it('trimHeap is there and runs (whether it frees anything depends on the heap)', () => {
  expect(typeof native!.trimHeap()).toBe('boolean');
});
