/**
 * A journal entry is what the shipper needs to produce one Kafka message without decoding the
 * record: the topic, the key (instance ID), the sequence number (read back at startup to continue
 * the per-instance sequence) and the MessagePack record itself.
 *
 *   u8 format (1) | u8 topic length | topic | u8 key length | key | f64 BE seq | record (MessagePack)
 */
import { LogfsError } from '../core/errors.js';
import { sameBytes } from './same-bytes.js';

const FORMAT = 1;

export interface JournalEntry {
  topic: string;
  key: string;
  seq: number;
  value: Buffer;
}

/** The constant part of the entries of one topic and key, written in front of each record. */
export class JournalEntryHeader {
  readonly bytes: Buffer;

  constructor(topic: string, key: string) {
    const topicLen = Buffer.byteLength(topic);
    const keyLen = Buffer.byteLength(key);
    if (topicLen > 255 || keyLen > 255) throw new RangeError('journal entry topic or key longer than 255 bytes');
    this.bytes = Buffer.allocUnsafe(3 + topicLen + keyLen + 8);
    let o = 0;
    this.bytes[o++] = FORMAT;
    this.bytes[o++] = topicLen;
    o += this.bytes.write(topic, o, 'utf8');
    this.bytes[o++] = keyLen;
    this.bytes.write(key, o, 'utf8');
  }

  /** The header without its seq: format, topic and key. */
  get constant(): Buffer {
    return this.bytes.subarray(0, this.bytes.length - 8);
  }

  /** Fills the header into the first `bytes.length` bytes of `entry`, which the record follows. */
  fill(entry: Buffer, seq: number): Buffer {
    this.fillAt(entry, 0, seq);
    return entry;
  }

  /** Writes the header into buf at `start`; returns where the record follows. */
  fillAt(buf: Buffer, start: number, seq: number): number {
    // A few dozen bytes: copied here rather than by a call into C++ (Buffer.copy).
    const h = this.bytes;
    const n = h.length - 8;
    for (let i = 0; i < n; i++) buf[start + i] = h[i]!;
    buf.writeDoubleBE(seq, start + n);
    return start + n + 8;
  }
}

export function encodeJournalEntry(topic: string, key: string, seq: number, value: Buffer): Buffer {
  const header = new JournalEntryHeader(topic, key);
  const buf = Buffer.allocUnsafe(header.bytes.length + value.length);
  value.copy(buf, header.bytes.length);
  return header.fill(buf, seq);
}

export function decodeJournalEntry(buf: Buffer): JournalEntry {
  if (buf[0] !== FORMAT || buf.length < 11) {
    throw new LogfsError('LOGFS_E_JOURNAL_CORRUPT', `journal entry has unknown format ${buf[0]}`);
  }
  const truncated = (): never => {
    throw new LogfsError('LOGFS_E_JOURNAL_CORRUPT', `journal entry of ${buf.length} bytes is truncated`);
  };
  let o = 1;
  const topicLen = buf[o++] as number;
  if (o + topicLen + 1 > buf.length) truncated();
  const topic = buf.toString('utf8', o, o + topicLen);
  o += topicLen;
  const keyLen = buf[o++] as number;
  if (o + keyLen + 8 > buf.length) truncated();
  const key = buf.toString('utf8', o, o + keyLen);
  o += keyLen;
  const seq = buf.readDoubleBE(o);
  o += 8;
  return { topic, key, seq, value: buf.subarray(o) };
}

/**
 * decodeJournalEntry for a run of entries: consecutive entries usually share their topic and key
 * (one writer's lines), so when an entry's header bytes equal the previous one's, its topic and key
 * strings are reused instead of decoded again (the shipper decodes every entry it sends).
 */
export class JournalEntryDecoder {
  private prev: Buffer | undefined;
  private prevHeaderEnd = 0;
  private prevEntry: JournalEntry | undefined;

  decode(buf: Buffer): JournalEntry {
    const prev = this.prev;
    const end = this.prevHeaderEnd;
    if (prev !== undefined && buf.length >= end + 8 && buf[0] === FORMAT && sameBytes(prev, buf, 0, end)) {
      const e = this.prevEntry as JournalEntry;
      return { topic: e.topic, key: e.key, seq: buf.readDoubleBE(end), value: buf.subarray(end + 8) };
    }
    const e = decodeJournalEntry(buf);
    this.prev = buf;
    this.prevHeaderEnd = buf.length - e.value.length - 8;
    this.prevEntry = e;
    return e;
  }
}
