import { describe, expect, it } from 'vitest';
import { LogfsError } from '../../core/errors.js';
import { decodeJournalEntry, encodeJournalEntry, JournalEntryDecoder, JournalEntryHeader } from '../../gateway/journal-entry.js';
import { decodeRecord, RecordTemplate } from '../../gateway/record-codec.js';

const TOPIC = 'logfs.acme.billing.invoices';
const KEY = 'i-0123456789abcdef0';

describe('journal entries', () => {
  it('encodeJournalEntry → decodeJournalEntry round-trips', () => {
    const value = Buffer.from([0x00, 0xff, 0x01, 0x0a]);
    const e = decodeJournalEntry(encodeJournalEntry(TOPIC, KEY, 12345, value));
    expect(e.topic).toBe(TOPIC);
    expect(e.key).toBe(KEY);
    expect(e.seq).toBe(12345);
    expect(e.value.toString('hex')).toBe('00ff010a');
  });

  it('has the documented layout: format | topic length | topic | key length | key | f64 seq | value', () => {
    const buf = encodeJournalEntry('t', 'kk', 7, Buffer.from('V'));
    expect(buf[0]).toBe(1);
    expect(buf[1]).toBe(1);
    expect(buf.toString('latin1', 2, 3)).toBe('t');
    expect(buf[3]).toBe(2);
    expect(buf.toString('latin1', 4, 6)).toBe('kk');
    expect(buf.readDoubleBE(6)).toBe(7);
    expect(buf.toString('latin1', 14)).toBe('V');
    expect(buf.length).toBe(15);
  });

  it('JournalEntryHeader.fill writes the same bytes as encodeJournalEntry', () => {
    const header = new JournalEntryHeader(TOPIC, KEY);
    const value = Buffer.from('the record');
    for (const seq of [0, 1, 2 ** 32 + 3, Number.MAX_SAFE_INTEGER]) {
      const entry = Buffer.alloc(header.bytes.length + value.length, 0xee);
      value.copy(entry, header.bytes.length);
      const filled = header.fill(entry, seq);
      expect(filled).toBe(entry);
      expect(filled.toString('hex'), `seq ${seq}`).toBe(encodeJournalEntry(TOPIC, KEY, seq, value).toString('hex'));
      const e = decodeJournalEntry(filled);
      expect([e.topic, e.key, e.seq, e.value.toString()]).toEqual([TOPIC, KEY, seq, 'the record']);
    }
  });

  it('one header fills many entries with their own seq', () => {
    const header = new JournalEntryHeader(TOPIC, KEY);
    const a = header.fill(Buffer.alloc(header.bytes.length + 1), 10);
    const b = header.fill(Buffer.alloc(header.bytes.length + 1), 11);
    expect(decodeJournalEntry(a).seq).toBe(10);
    expect(decodeJournalEntry(b).seq).toBe(11);
  });

  it('works with a record encoded into the reserved prefix (the gateway write path)', () => {
    const header = new JournalEntryHeader(TOPIC, KEY);
    const template = new RecordTemplate({
      v: 1,
      provider: 'acme',
      stream: 'billing/invoices',
      class: null,
      instance: KEY,
      host: 'h',
      source: 'fuse',
    });
    const entry = header.fill(template.encode(99, 1_700_000_000_000, Buffer.from('line'), undefined, undefined, header.bytes.length), 99);
    const e = decodeJournalEntry(entry);
    expect([e.topic, e.key, e.seq]).toEqual([TOPIC, KEY, 99]);
    const r = decodeRecord(e.value);
    expect([r.seq, r.instance, r.data.toString()]).toEqual([99, KEY, 'line']);
  });

  it('round-trips UTF-8 and empty topic, key and value', () => {
    const e = decodeJournalEntry(encodeJournalEntry('tôpic', '', 0, Buffer.alloc(0)));
    expect([e.topic, e.key, e.seq, e.value.length]).toEqual(['tôpic', '', 0, 0]);
    const h = new JournalEntryHeader('', 'ké');
    const f = decodeJournalEntry(h.fill(Buffer.alloc(h.bytes.length), 5));
    expect([f.topic, f.key, f.seq, f.value.length]).toEqual(['', 'ké', 5, 0]);
  });

  it('allows 255-byte topic and key, refuses 256', () => {
    const max = 'x'.repeat(255);
    expect(decodeJournalEntry(encodeJournalEntry(max, max, 1, Buffer.from('v'))).topic).toBe(max);
    expect(new JournalEntryHeader(max, max).bytes.length).toBe(3 + 255 + 255 + 8);
    const over = 'x'.repeat(256);
    expect(() => encodeJournalEntry(over, 'k', 1, Buffer.alloc(0))).toThrow(RangeError);
    expect(() => encodeJournalEntry('t', over, 1, Buffer.alloc(0))).toThrow(RangeError);
    expect(() => new JournalEntryHeader(over, 'k')).toThrow(RangeError);
    // Bytes, not characters: 128 two-byte characters are 256 bytes.
    expect(() => new JournalEntryHeader('é'.repeat(128), 'k')).toThrow(RangeError);
  });

  it('rejects an unknown format with LOGFS_E_JOURNAL_CORRUPT', () => {
    const buf = encodeJournalEntry(TOPIC, KEY, 1, Buffer.from('v'));
    for (const format of [0, 2, 0xff]) {
      buf[0] = format;
      let err: unknown;
      try {
        decodeJournalEntry(buf);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LogfsError);
      expect((err as LogfsError).code).toBe('LOGFS_E_JOURNAL_CORRUPT');
      expect((err as LogfsError).message).toContain(`unknown format ${format}`);
    }
  });

  it('rejects an entry shorter than the smallest header', () => {
    expect(() => decodeJournalEntry(Buffer.alloc(0))).toThrow(LogfsError);
    expect(() => decodeJournalEntry(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(LogfsError);
    // The smallest valid entry: empty topic and key, seq, no value.
    expect(decodeJournalEntry(encodeJournalEntry('', '', 3, Buffer.alloc(0))).seq).toBe(3);
  });

  it('throws rather than decode garbage when the lengths run past the end', () => {
    const buf = encodeJournalEntry(TOPIC, KEY, 1, Buffer.alloc(0));
    expect(() => decodeJournalEntry(buf.subarray(0, buf.length - 1))).toThrow();
  });

  it('JournalEntryDecoder decodes a run of entries exactly as decodeJournalEntry, across topic and key changes', () => {
    const specs: [string, string][] = [['t1', 'i-1'], ['t1', 'i-1'], ['t1', 'i-2'], ['t2', 'i-2'], ['t2', 'i-2'], ['t1x', 'i-'], ['t1', 'xi-'], ['t1', 'i-1']];
    const entries = specs.map(([topic, key], n) => encodeJournalEntry(topic, key, 1000 + n, Buffer.from(`record ${n}`)));
    const decoder = new JournalEntryDecoder();
    for (const e of entries) expect(decoder.decode(e)).toEqual(decodeJournalEntry(e));
    // A corrupt entry is still refused, also right after a good one with the same header start.
    expect(() => decoder.decode(entries[0]!.subarray(0, 6))).toThrow(LogfsError);
  });
});
