/**
 * The plain socket protocol on the wire (docs/socket-protocol.md): a one-line header, then raw lines
 * from the client; `OK`, `ACK <n>` and `ERR <code> <message>` lines from the server. Everything here
 * is pure so that it is tested without a socket.
 */
import { isLogfsError } from '../../core/errors.js';
import { validateLabel, validateStreamName } from '../../control/stream-name.js';

export const PROTOCOL_NAME = 'LOGFS';
export const PROTOCOL_VERSION = 1;

/**
 * Longest header line, newline included. A stream name is at most 160 bytes and a label 200, so even
 * fully percent-encoded (3 bytes each) they fit; anything longer is not a header.
 */
export const HEADER_MAX_BYTES = 4096;

/** The `<code>` of an `ERR` line: stable words a client may switch on. */
export const ERR_CODES = {
  'bad-header': 'the header line is malformed, too long, or names an unknown key',
  version: 'the header asks for a protocol version this server does not speak',
  'bad-stream': 'the stream name is not a valid stream name',
  'not-found': 'the stream is not provisioned for this host\'s provider',
  'bad-class': 'the class label fails validation',
  busy: 'the input already serves maxConnections connections',
  idle: 'the header or a started line stalled for idleTimeoutMs',
  full: 'the journal is full and the gateway refuses writes (onFull: refuse)',
  shutdown: 'the input or the gateway is shutting down',
  internal: 'the gateway failed (journal I/O, a bug); see the server log',
} as const;

export type ErrCode = keyof typeof ERR_CODES;

/** A header or protocol problem with the `ERR` code to answer. */
export class SocketProtocolError extends Error {
  constructor(
    readonly errCode: ErrCode,
    message: string,
  ) {
    super(message);
    this.name = 'SocketProtocolError';
  }
}

export interface SocketHeader {
  stream: string;
  /** Class label of every record of the connection, or null. */
  label: string | null;
  /** Acknowledgement mode: the server reports durable lines with `ACK <n>`. */
  ack: boolean;
}

const KEYS = new Set(['stream', 'class', 'ack']);

/**
 * Parses a header line (without its newline; a trailing CR is tolerated so that `nc -C` and telnet
 * work). Syntax: `LOGFS/1` then space-separated `key=value` pairs; values are percent-encoded UTF-8
 * (RFC 3986 section 2.1) so that a label may hold spaces. Unknown or repeated keys are errors rather
 * than ignored: a client that asks for something this server does not do must learn it at once.
 */
export function parseHeader(line: Buffer): SocketHeader {
  let end = line.length;
  if (end > 0 && line[end - 1] === 0x0d) end -= 1;
  // Decoded strictly: a header that is not UTF-8 is malformed, not mojibake.
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(line.subarray(0, end));
  } catch {
    throw new SocketProtocolError('bad-header', 'header is not valid UTF-8');
  }
  const tokens = text.split(' ').filter((t) => t !== '');
  const magic = tokens.shift();
  if (magic === undefined) throw new SocketProtocolError('bad-header', `empty header; send "${PROTOCOL_NAME}/${PROTOCOL_VERSION} stream=NAME"`);
  const m = /^LOGFS\/(\d{1,6})$/.exec(magic);
  if (!m) throw new SocketProtocolError('bad-header', `header must start with "${PROTOCOL_NAME}/${PROTOCOL_VERSION}"`);
  if (Number(m[1]) !== PROTOCOL_VERSION) {
    throw new SocketProtocolError('version', `protocol version ${m[1]} is not supported; this server speaks ${PROTOCOL_NAME}/${PROTOCOL_VERSION}`);
  }
  const values = new Map<string, string>();
  for (const token of tokens) {
    const eq = token.indexOf('=');
    if (eq <= 0) throw new SocketProtocolError('bad-header', `"${token}" is not key=value`);
    const key = token.slice(0, eq);
    if (!KEYS.has(key)) throw new SocketProtocolError('bad-header', `unknown key "${key}"; known keys: ${[...KEYS].join(', ')}`);
    if (values.has(key)) throw new SocketProtocolError('bad-header', `key "${key}" appears twice`);
    values.set(key, percentDecode(key, token.slice(eq + 1)));
  }

  const stream = values.get('stream');
  if (stream === undefined) throw new SocketProtocolError('bad-header', 'the header must name a stream (stream=NAME)');
  try {
    validateStreamName(stream);
  } catch (err) {
    throw new SocketProtocolError('bad-stream', isLogfsError(err) ? err.message : String(err));
  }

  const cls = values.get('class');
  let label: string | null = null;
  if (cls !== undefined) {
    try {
      label = validateLabel(cls);
    } catch (err) {
      throw new SocketProtocolError('bad-class', isLogfsError(err) ? err.message : String(err));
    }
  }

  const ackValue = values.get('ack') ?? 'no';
  if (ackValue !== 'yes' && ackValue !== 'no') throw new SocketProtocolError('bad-header', `ack must be "yes" or "no", got "${ackValue}"`);
  return { stream, label, ack: ackValue === 'yes' };
}

/** Percent-decoding that refuses what decodeURIComponent would accept loosely or throw on vaguely. */
function percentDecode(key: string, raw: string): string {
  if (raw === '') throw new SocketProtocolError('bad-header', `key "${key}" has an empty value`);
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) throw new SocketProtocolError('bad-header', `value of "${key}" has a "%" not followed by two hex digits`);
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === '%') {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const cp = raw.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      i += ch.length;
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    throw new SocketProtocolError('bad-header', `value of "${key}" is not UTF-8 once percent-decoded`);
  }
}

/** Percent-encodes a header value: everything but unreserved characters (RFC 3986 section 2.3) and "/". */
export function encodeHeaderValue(value: string): string {
  return encodeURIComponent(value).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => `%${(c.codePointAt(0) as number).toString(16).toUpperCase()}`);
}

/** Builds a header line, newline included (for clients and tests). */
export function formatHeader(h: { stream: string; label?: string | null; ack?: boolean }): string {
  let line = `${PROTOCOL_NAME}/${PROTOCOL_VERSION} stream=${encodeHeaderValue(h.stream)}`;
  if (h.label) line += ` class=${encodeHeaderValue(h.label)}`;
  if (h.ack) line += ' ack=yes';
  return `${line}\n`;
}

export const OK_REPLY = 'OK\n';

export function ackReply(lines: number): string {
  return `ACK ${lines}\n`;
}

/** An `ERR` line; the message is kept to one line whatever it holds. */
export function errReply(code: ErrCode, message: string): string {
  return `ERR ${code} ${message.replace(/[\r\n]+/g, ' ')}\n`;
}

/** Parses a server reply line (for clients and tests). */
export type ServerReply = { kind: 'ok' } | { kind: 'ack'; lines: number } | { kind: 'err'; code: string; message: string };

export function parseReply(line: string): ServerReply {
  if (line === 'OK') return { kind: 'ok' };
  const ack = /^ACK (\d+)$/.exec(line);
  if (ack) return { kind: 'ack', lines: Number(ack[1]) };
  const err = /^ERR (\S+) ?(.*)$/.exec(line);
  if (err) return { kind: 'err', code: err[1] as string, message: err[2] as string };
  throw new Error(`not a server reply: ${JSON.stringify(line)}`);
}
