/**
 * The protocol between logfsd and a separate per-host gateway, over a unix stream socket:
 * frames of `u32 BE length | MessagePack map`. docs/gateway.md describes it.
 *
 * client → gateway: hello {credential?, instance?}, ingest {stream, class, source, lines}, barrier {id}
 * gateway → client: welcome {instance, provider} | refused {reason}, barrier-ok {id}, barrier-err {id, message}, full {v}
 *
 * A barrier covers every ingest sent before it on the same connection, since the gateway handles a
 * connection's frames in order; so ingests need no reply and can be pipelined.
 */
import { Packr } from 'msgpackr';
import { LogfsError } from '../core/errors.js';

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, mapsAsObjects: true });

export type WireLine = Buffer | [Buffer, number, boolean];

export type ClientFrame =
  | { t: 'hello'; credential?: string; instance?: string }
  | { t: 'ingest'; stream: string; class: string | null; source: 'fuse' | 'syslog' | 'socket'; lines: WireLine[] }
  | { t: 'barrier'; id: number };

export type ServerFrame =
  | { t: 'welcome'; instance: string; provider: string }
  | { t: 'refused'; reason: string }
  | { t: 'barrier-ok'; id: number }
  | { t: 'barrier-err'; id: number; message: string }
  | { t: 'full'; v: boolean };

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
