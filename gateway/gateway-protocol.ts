/**
 * The protocol between logfsd and a separate per-host gateway, over a unix stream socket:
 * frames of `u32 BE length | MessagePack map`. docs/gateway.md describes it.
 *
 * client → gateway: hello {credential?, instance?}, ingest {stream, class, source, lines}, barrier {id}
 * gateway → client: welcome {instance, provider, onFull, features} | refused {reason}, barrier-ok {id}, barrier-err {id, message}, full {v}
 *
 * A barrier covers every ingest sent before it on the same connection, since the gateway handles a
 * connection's frames in order; so ingests need no reply and can be pipelined.
 *
 * A line is `bin` (data), `[bin, index, last]` (a part of a cut line), or — for lines with `attrs`
 * (syslog header fields, …) — a map `{d: bin, p?: [index, last], a: map}`. The map form was added
 * with the socket inputs; the first two forms are unchanged, so older daemons keep working.
 */
import { Packr } from 'msgpackr';
import { LogfsError } from '../core/errors.js';

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, mapsAsObjects: true });

export type WireLine = Buffer | [Buffer, number, boolean] | WireLineWithAttrs;

export interface WireLineWithAttrs {
  d: Buffer;
  p?: [number, boolean];
  a: Record<string, unknown>;
}

export type ClientFrame =
  | { t: 'hello'; credential?: string; instance?: string }
  | { t: 'ingest'; stream: string; class: string | null; source: 'fuse' | 'syslog' | 'socket'; lines: WireLine[] }
  | { t: 'barrier'; id: number };

export type ServerFrame =
  /** `features` lists what this gateway takes beyond the first protocol: `attrs` (per-line attrs). */
  | { t: 'welcome'; instance: string; provider: string; onFull: 'block' | 'refuse'; features?: string[] }
  | { t: 'refused'; reason: string }
  | { t: 'barrier-ok'; id: number }
  | { t: 'barrier-err'; id: number; message: string }
  | { t: 'full'; v: boolean };

const SOURCES = new Set(['fuse', 'syslog', 'socket']);

function protocolError(message: string): never {
  throw new LogfsError('LOGFS_E_GATEWAY_PROTOCOL', message);
}

/**
 * Checks a decoded client frame at the boundary (by hand rather than with a schema: an ingest frame
 * carries thousands of lines and runs for every write batch).
 */
export function parseClientFrame(raw: unknown): ClientFrame {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) protocolError('frame is not a map');
  const f = raw as Record<string, unknown>;
  switch (f.t) {
    case 'hello':
      if (f.credential !== undefined && typeof f.credential !== 'string') protocolError('hello.credential must be a string');
      if (f.instance !== undefined && typeof f.instance !== 'string') protocolError('hello.instance must be a string');
      return f as ClientFrame;
    case 'barrier':
      if (!Number.isSafeInteger(f.id)) protocolError('barrier.id must be an integer');
      return f as ClientFrame;
    case 'ingest': {
      if (typeof f.stream !== 'string' || f.stream === '') protocolError('ingest.stream must be a non-empty string');
      if (f.class !== null && typeof f.class !== 'string') protocolError('ingest.class must be a string or nil');
      if (typeof f.source !== 'string' || !SOURCES.has(f.source)) protocolError('ingest.source must be fuse, syslog or socket');
      if (!Array.isArray(f.lines)) protocolError('ingest.lines must be an array');
      for (const l of f.lines as unknown[]) {
        if (Buffer.isBuffer(l)) continue;
        if (isPart(l)) continue;
        if (!isLineWithAttrs(l)) protocolError(`ingest.lines entries must be bin, [bin, index ≥ 0, last] or {d: bin, p?: [index ≥ 0, last], a: map of at most ${MAX_WIRE_ATTRS_BYTES} bytes}`);
      }
      return f as ClientFrame;
    }
    default:
      return protocolError(`unknown frame type ${JSON.stringify(f.t)}`);
  }
}

function isPart(l: unknown): l is [Buffer, number, boolean] {
  return Array.isArray(l) && l.length === 3 && Buffer.isBuffer(l[0]) && Number.isSafeInteger(l[1]) && (l[1] as number) >= 0 && typeof l[2] === 'boolean';
}

/**
 * Attrs come from a less trusted process (a remote instance's daemon): bounded here, so that no
 * client can make records too large for the topic and stall shipping for the whole host.
 */
export const MAX_WIRE_ATTRS_BYTES = 64 * 1024;

function isLineWithAttrs(l: unknown): l is WireLineWithAttrs {
  if (l === null || typeof l !== 'object' || Array.isArray(l) || Buffer.isBuffer(l)) return false;
  const m = l as Record<string, unknown>;
  for (const k of Object.keys(m)) if (k !== 'd' && k !== 'p' && k !== 'a') return false;
  if (!Buffer.isBuffer(m.d)) return false;
  if (m.a === null || typeof m.a !== 'object' || Array.isArray(m.a) || Buffer.isBuffer(m.a)) return false;
  if (packr.pack(m.a).length > MAX_WIRE_ATTRS_BYTES) return false;
  const p = m.p;
  return p === undefined || (Array.isArray(p) && p.length === 2 && Number.isSafeInteger(p[0]) && (p[0] as number) >= 0 && typeof p[1] === 'boolean');
}

export function encodeFrame(frame: ClientFrame | ServerFrame): Buffer {
  const body = packr.pack(frame);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Splits a byte stream into frames; throws LOGFS_E_GATEWAY_PROTOCOL on a bad frame. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): unknown[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: unknown[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) {
        throw new LogfsError('LOGFS_E_GATEWAY_PROTOCOL', `frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}`);
      }
      if (this.buf.length < 4 + len) break;
      try {
        frames.push(packr.unpack(this.buf.subarray(4, 4 + len)));
      } catch (cause) {
        throw new LogfsError('LOGFS_E_GATEWAY_PROTOCOL', 'frame is not valid MessagePack', { cause });
      }
      this.buf = this.buf.subarray(4 + len);
    }
    return frames;
  }
}
