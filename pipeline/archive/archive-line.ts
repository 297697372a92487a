/**
 * One archived record = one JSON line (docs/archive.md, "Line format"). Built by hand: it runs for
 * every record archived or relayed, and the parts that repeat from one record to the next
 * (provider, stream, class, instance, host; graph and version) are escaped once, not per record.
 */
import { isUtf8 } from 'node:buffer';
import type { PipelineRecord } from '../record.js';
import { LineBuffer } from './line-buffer.js';

export interface ArchiveOrigin {
  graph: string;
  version: number;
}

/** A line of a segment, parsed: the pipeline record with its bytes as text, its time and origin. */
export interface ArchivedRecord extends Omit<PipelineRecord, 'data' | 'source'>, ArchiveOrigin {
  /** `ts` as an ISO time, for people reading the files with zcat | jq. */
  time: string;
  source: string;
  /** The record's bytes: UTF-8 text, or base64 when `dataEncoding` is "base64". */
  data: string;
  dataEncoding?: 'base64';
}

/** The original bytes of an archived record. */
export function archivedData(r: Pick<ArchivedRecord, 'data' | 'dataEncoding'>): Buffer {
  return Buffer.from(r.data, r.dataEncoding === 'base64' ? 'base64' : 'utf8');
}

/** Flag set on a record whose fields or attrs could not be written as JSON (kept as an error note). */
export const UNSERIALISABLE_FLAG = 'archive_unserialisable';

/** Encodes records as JSON lines; keeps a little state so that runs of similar records are cheap. */
export class LineEncoder {
  /**
   * The escaped provider..host part per instance: batches interleave a few instances, and each
   * instance's records share their provider, stream, class and host.
   */
  private readonly middles = new Map<string, { provider: string; stream: string; class: string | null; host: string; json: string }>();
  /** `YYYY-MM-DDTHH:MM:SS.` of the second `isoSecond`: only the milliseconds change within it. */
  private isoSecond = NaN;
  private isoPrefix = '';
  private lastKind: unknown;
  private kindJson = 'null';
  private lastSource: unknown;
  private sourceJson = 'null';
  private originKey: ArchiveOrigin | undefined;
  private tail = '';
  /** Records whose fields/attrs could not be serialised. */
  unserialisable = 0;

  /** Appends the line for `r`, with its newline, to `out`. */
  encodeTo(out: LineBuffer, r: PipelineRecord, origin: ArchiveOrigin): void {
    let m = this.middles.get(r.instance);
    if (m === undefined || m.provider !== r.provider || m.stream !== r.stream || m.class !== r.class || m.host !== r.host) {
      if (this.middles.size >= 4096) this.middles.clear();
      m = {
        provider: r.provider,
        stream: r.stream,
        class: r.class,
        host: r.host,
        json: `,"provider":${json(r.provider)},"stream":${json(r.stream)},"class":${json(r.class)},"instance":${json(r.instance)},"host":${json(r.host)}`,
      };
      this.middles.set(r.instance, m);
    }
    if (origin !== this.originKey) {
      this.originKey = origin;
      this.tail = `,"graph":${json(origin.graph)},"version":${json(origin.version)}}\n`;
    }
    if (r.kind !== this.lastKind) {
      this.lastKind = r.kind;
      this.kindJson = json(r.kind);
    }
    if (r.source !== this.lastSource) {
      this.lastSource = r.source;
      this.sourceJson = json(r.source);
    }
    const head = `{"id":${JSON.stringify(r.id) ?? 'null'},"kind":${this.kindJson}${m.json},"seq":${num(r.seq)},"ts":${num(r.ts)},"time":"${this.time(r.ts)}","source":${this.sourceJson},"data":`;
    const data = r.data;
    // Plain ASCII without quotes, backslashes or control characters is its own JSON string body:
    // copied as bytes, it skips decoding to a string, escaping and encoding back.
    const raw = plainAscii(data);
    let text = '';
    if (!raw) text = isUtf8(data) ? JSON.stringify(data.toString('utf8')) : `"${data.toString('base64')}","dataEncoding":"base64"`;
    let rest = '';
    if (r.part) rest += `,"part":[${json(r.part[0])},${r.part[1] ? 'true' : 'false'}]`;
    let fields: string;
    try {
      if (r.attrs !== undefined) rest += `,"attrs":${JSON.stringify(r.attrs) ?? 'null'}`;
      fields = hasKeys(r.fields) ? (JSON.stringify(r.fields) ?? '{}') : '{}';
    } catch (err) {
      // A custom agent can attach values JSON cannot hold (BigInt, cycles): keep the record, say why.
      this.unserialisable++;
      fields = JSON.stringify({ _archiveError: (err as Error).message });
      if (!r.flags.includes(UNSERIALISABLE_FLAG)) r.flags.push(UNSERIALISABLE_FLAG);
    }
    rest += `,"fields":${fields},"flags":${r.flags.length === 0 ? '[]' : JSON.stringify(r.flags)}${this.tail}`;
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    out.reserve(3 * (head.length + text.length + rest.length + 2) + (raw ? data.length : 0));
    if (raw) {
      out.text(`${head}"`);
      out.bytes(data);
      out.text(`"${rest}`);
    } else out.text(head + text + rest);
  }

  /** The line for `r` as a string (tests, tools). */
  encode(r: PipelineRecord, origin: ArchiveOrigin): string {
    const b = new LineBuffer();
    this.encodeTo(b, r, origin);
    return Buffer.concat(b.take()).toString('utf8');
  }

  private time(ts: number): string {
    if (!Number.isFinite(ts) || Math.abs(ts) > 8.64e15) return '';
    // Four-digit years only: outside them the ISO form is longer than the cached prefix assumes.
    if (ts < 0 || ts >= 253_402_300_800_000) return new Date(ts).toISOString();
    const second = Math.floor(ts / 1000);
    if (second !== this.isoSecond) {
      this.isoSecond = second;
      this.isoPrefix = new Date(second * 1000).toISOString().slice(0, 20);
    }
    const ms = ts - second * 1000;
    return ms === Math.trunc(ms) ? `${this.isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z` : new Date(ts).toISOString();
  }
}

function plainAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** JSON of a scalar; a missing value (wire input can lack anything) becomes null, not "undefined". */
function json(v: unknown): string {
  return JSON.stringify(v ?? null) ?? 'null';
}

function num(n: number): string {
  return typeof n === 'number' && Number.isFinite(n) ? `${n}` : 'null';
}
