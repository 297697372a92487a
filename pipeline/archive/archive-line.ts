/**
 * One archived record = one JSON line (docs/archive.md, "Line format"). Built by hand: it runs for
 * every record archived or relayed, and the parts that repeat from one record to the next
 * (provider, stream, class, instance, host; graph and version) are escaped once, not per record.
 */
import { isUtf8 } from 'node:buffer';
import type { PipelineRecord, RecordKind } from '../record.js';

export interface ArchiveOrigin {
  graph: string;
  version: number;
}

/** A line of a segment, parsed. */
export interface ArchivedRecord {
  id: string;
  kind: RecordKind;
  provider: string;
  stream: string;
  class: string | null;
  instance: string;
  host: string;
  seq: number;
  ts: number;
  /** `ts` as an ISO time, for people reading the files with zcat | jq. */
  time: string;
  source: string;
  /** The record's bytes: UTF-8 text, or base64 when `dataEncoding` is "base64". */
  data: string;
  dataEncoding?: 'base64';
  part?: [number, boolean];
  attrs?: Record<string, unknown>;
  fields: Record<string, unknown>;
  flags: string[];
  graph: string;
  version: number;
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
  private lastTs = NaN;
  private lastTime = '';
  private lastKind: unknown;
  private kindJson = 'null';
  private lastSource: unknown;
  private sourceJson = 'null';
  private originKey: ArchiveOrigin | undefined;
  private tail = '';
  /** Records whose fields/attrs could not be serialised. */
  unserialisable = 0;

  /** The line for `r`, with its newline. */
  encode(r: PipelineRecord, origin: ArchiveOrigin): string {
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
    if (r.ts !== this.lastTs) {
      this.lastTs = r.ts;
      this.lastTime = Number.isFinite(r.ts) && Math.abs(r.ts) <= 8.64e15 ? new Date(r.ts).toISOString() : '';
    }
    if (r.kind !== this.lastKind) {
      this.lastKind = r.kind;
      this.kindJson = json(r.kind);
    }
    if (r.source !== this.lastSource) {
      this.lastSource = r.source;
      this.sourceJson = json(r.source);
    }
    const data = r.data;
    const text = isUtf8(data) ? `,"data":${JSON.stringify(data.toString('utf8'))}` : `,"data":"${data.toString('base64')}","dataEncoding":"base64"`;
    let rest = '';
    if (r.part) rest += `,"part":[${json(r.part[0])},${r.part[1] ? 'true' : 'false'}]`;
    let fields: string;
    let attrs: string | undefined;
    try {
      if (r.attrs !== undefined) attrs = JSON.stringify(r.attrs);
      fields = JSON.stringify(r.fields) ?? '{}';
    } catch (err) {
      // A custom agent can attach values JSON cannot hold (BigInt, cycles): keep the record, say why.
      this.unserialisable++;
      fields = JSON.stringify({ _archiveError: (err as Error).message });
      attrs = undefined;
      if (!r.flags.includes(UNSERIALISABLE_FLAG)) r.flags.push(UNSERIALISABLE_FLAG);
    }
    if (attrs !== undefined) rest += `,"attrs":${attrs}`;
    return (
      `{"id":${JSON.stringify(r.id) ?? 'null'},"kind":${this.kindJson}${m.json},"seq":${num(r.seq)},"ts":${num(r.ts)},"time":"${this.lastTime}","source":${this.sourceJson}` +
      `${text}${rest},"fields":${fields},"flags":${r.flags.length === 0 ? '[]' : JSON.stringify(r.flags)}${this.tail}`
    );
  }
}

/** JSON of a scalar; a missing value (wire input can lack anything) becomes null, not "undefined". */
function json(v: unknown): string {
  return JSON.stringify(v ?? null) ?? 'null';
}

function num(n: number): string {
  return typeof n === 'number' && Number.isFinite(n) ? `${n}` : 'null';
}
