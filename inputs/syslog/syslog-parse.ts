/**
 * Parses one syslog message: RFC 5424 (https://www.rfc-editor.org/rfc/rfc5424#section-6), RFC 3164
 * (https://www.rfc-editor.org/rfc/rfc3164#section-4) and the variants of RFC 3164 that real senders
 * use. It never throws: what follows neither RFC becomes format 'raw' with a `problem`, so that the
 * input can pass it on flagged instead of dropping it.
 *
 * It works on the bytes: header fields are decoded one by one, the body stays a view into the input
 * (binary and invalid UTF-8 kept as sent), and no regular expression runs over the message — the
 * TCP input parses 100,000 messages a second.
 */
import { errorMessage } from '../../core/errors.js';
import { MAX_PRI, type SyslogMessage } from './syslog-message.js';

export interface ParseSyslogOptions {
  /**
   * "Now" in milliseconds since the epoch, for the year of an RFC 3164 timestamp (which has none):
   * the year that puts the timestamp nearest to now. Date.now() by default; tests pin it.
   */
  now?: number;
}

/** RFC 5424 section 6 field lengths (HOSTNAME, APP-NAME, PROCID, MSGID, SD-NAME). */
const MAX_HOSTNAME = 255;
const MAX_APP_NAME = 48;
const MAX_PROCID = 128;
const MAX_MSGID = 32;
const MAX_SD_NAME = 32;

const NOT_A_DIGIT = -1;
const SP = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const DASH = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const LT = 0x3c;
const EQUALS = 0x3d;
const GT = 0x3e;
const UPPER_T = 0x54;
const UPPER_Z = 0x5a;
const LBRACKET = 0x5b;
const BACKSLASH = 0x5c;
const RBRACKET = 0x5d;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** A 400-year Gregorian cycle is exactly 146,097 days: used to date years 0-99 (see utcMs). */
const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;
const HALF_YEAR_MS = 183 * 86_400_000;
/**
 * Header fields are cut from one latin1 decoding of the message's first bytes (string slices are
 * cheap; a Buffer.toString per field is not). RFC 5424 header fields fit well inside this.
 */
const HEAD_BYTES = 1024;

export function parseSyslog(msg: Buffer, opts: ParseSyslogOptions = {}): SyslogMessage {
  try {
    return parseMessage(msg, opts);
  } catch (err) {
    // Only a bug gets here; the message still passes (raw, and the problem names the bug).
    return raw(msg, null, `parser error: ${errorMessage(err)}`);
  }
}

function parseMessage(msg: Buffer, opts: ParseSyslogOptions): SyslogMessage {
  if (msg.length === 0) return raw(msg, null, 'empty message');
  const head = msg.toString('latin1', 0, Math.min(msg.length, HEAD_BYTES));
  let pri: number | null = null;
  let pos = 0;
  if (msg[0] === LT) {
    const p = parsePri(msg);
    if (typeof p === 'string') return raw(msg, null, p);
    pri = p.pri;
    pos = p.end;
    // RFC 5424 section 6.2.2: VERSION follows PRI directly. Only "1" is defined; anything else goes
    // the RFC 3164 way (`<14>12 things` from a sender without a header is not a version 12).
    if (msg[pos] === 0x31 && msg[pos + 1] === SP) return parse5424(msg, head, pri, pos + 2);
  }
  return parse3164(msg, head, pri, pos, opts);
}

/**
 * PRIVAL and the index after `>`, or a problem. RFC 5424 section 6.2.1: `<` 1*3DIGIT `>`, 0..191.
 * Leading zeros are tolerated (`<013>`): nothing is gained by refusing them.
 */
function parsePri(msg: Buffer): { pri: number; end: number } | string {
  let value = 0;
  let i = 1;
  for (; i <= 3 && digitAt(msg, i) >= 0; i++) value = value * 10 + digitAt(msg, i);
  if (i === 1 && msg[1] === GT) return 'empty PRI "<>" (RFC 5424 section 6.2.1)';
  if (i === 1 || msg[i] !== GT) return 'PRI is not 1 to 3 digits closed by ">" (RFC 5424 section 6.2.1)';
  if (value > MAX_PRI) return `PRI ${value} out of range 0..${MAX_PRI} (RFC 5424 section 6.2.1)`;
  return { pri: value, end: i + 1 };
}

// --- RFC 5424 ---------------------------------------------------------------------------------

/** `pos` is just after "<PRI>1 ". */
function parse5424(msg: Buffer, head: string, pri: number, pos: number): SyslogMessage {
  const len = msg.length;

  let end = tokenEnd(msg, pos);
  if (end === len) return raw(msg, pri, 'RFC 5424 header ends after VERSION');
  let timestamp: string | null = null;
  let timestampMs: number | null = null;
  if (!isNil(msg, pos, end)) {
    timestamp = latin1(msg, head, pos, end);
    timestampMs = parseRfc3339(msg, pos, end, true);
    if (Number.isNaN(timestampMs)) {
      return raw(msg, pri, `invalid RFC 5424 TIMESTAMP "${timestamp}" (RFC 5424 section 6.2.3)`);
    }
  }
  pos = end + 1;

  const fields: (string | null)[] = [null, null, null, null];
  for (let f = 0; f < HEADER_FIELDS.length; f++) {
    const name = HEADER_FIELDS[f] as string;
    end = tokenEnd(msg, pos);
    if (end === len) return raw(msg, pri, `RFC 5424 header ends before STRUCTURED-DATA (in ${name})`);
    const problem = checkHeaderField(msg, pos, end, name, HEADER_MAX[f] as number);
    if (problem !== undefined) return raw(msg, pri, problem);
    if (!isNil(msg, pos, end)) fields[f] = latin1(msg, head, pos, end);
    pos = end + 1;
  }

  let structuredData: Record<string, Record<string, string>> | null = null;
  if (pos < len && msg[pos] === DASH) {
    pos += 1;
  } else if (pos < len && msg[pos] === LBRACKET) {
    const sd = parseStructuredData(msg, head, pos);
    if (typeof sd === 'string') return raw(msg, pri, sd);
    structuredData = sd.data;
    pos = sd.end;
  } else {
    return raw(msg, pri, 'RFC 5424 STRUCTURED-DATA is neither "-" nor "[...]" (RFC 5424 section 6.3)');
  }

  // MSG is optional (RFC 5424 section 6.4); when present a single SP separates it.
  let body = len;
  if (pos < len) {
    if (msg[pos] !== SP) return raw(msg, pri, 'RFC 5424 STRUCTURED-DATA is not followed by SP (RFC 5424 section 6)');
    body = pos + 1;
    // RFC 5424 section 6.4: a UTF-8 MSG starts with the BOM, which is framing, not content.
    if (msg[body] === 0xef && msg[body + 1] === 0xbb && msg[body + 2] === 0xbf) body += 3;
  }

  return {
    format: 'rfc5424',
    pri,
    facility: pri >> 3,
    severity: pri & 7,
    timestamp,
    timestampMs,
    hostname: fields[0] ?? null,
    appName: fields[1] ?? null,
    procId: fields[2] ?? null,
    msgId: fields[3] ?? null,
    structuredData,
    msg: msg.subarray(body),
  };
}

const HEADER_FIELDS = ['HOSTNAME', 'APP-NAME', 'PROCID', 'MSGID'];
const HEADER_MAX = [MAX_HOSTNAME, MAX_APP_NAME, MAX_PROCID, MAX_MSGID];

/** RFC 5424 section 6: header fields are 1*N PRINTUSASCII (33..126). */
function checkHeaderField(msg: Buffer, start: number, end: number, name: string, max: number): string | undefined {
  if (end === start) return `RFC 5424 ${name} is empty (two spaces in the header)`;
  if (end - start > max) return `RFC 5424 ${name} longer than ${max} bytes (RFC 5424 section 6.2)`;
  for (let i = start; i < end; i++) {
    const b = msg[i] as number;
    if (b < 33 || b > 126) return `RFC 5424 ${name} has a byte outside printable US-ASCII (RFC 5424 section 6)`;
  }
  return undefined;
}

/**
 * STRUCTURED-DATA (RFC 5424 section 6.3): one or more `[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]`.
 * A PARAM-NAME may repeat within an element and an SD-ID should not repeat (section 6.3.2); the
 * record keeps both all the same, the later ones under `name#2`, `name#3`, … so nothing is lost.
 */
function parseStructuredData(
  msg: Buffer,
  head: string,
  pos: number,
): { data: Record<string, Record<string, string>>; end: number } | string {
  const len = msg.length;
  const elements: Record<string, Record<string, string>> = {};
  while (pos < len && msg[pos] === LBRACKET) {
    const idEnd = sdNameEnd(msg, pos + 1);
    const idProblem = checkSdName(msg, pos + 1, idEnd, 'SD-ID');
    if (idProblem !== undefined) return idProblem;
    const id = latin1(msg, head, pos + 1, idEnd);
    pos = idEnd;
    const params: Record<string, string> = {};
    for (;;) {
      if (pos >= len) return `RFC 5424 SD-ELEMENT "${id}" not closed by "]" (RFC 5424 section 6.3.1)`;
      const b = msg[pos];
      if (b === RBRACKET) {
        pos += 1;
        break;
      }
      if (b !== SP) return `RFC 5424 SD-ELEMENT "${id}": expected SP or "]" (RFC 5424 section 6.3.1)`;
      const nameEnd = sdNameEnd(msg, pos + 1);
      const nameProblem = checkSdName(msg, pos + 1, nameEnd, `PARAM-NAME in "${id}"`);
      if (nameProblem !== undefined) return nameProblem;
      const name = latin1(msg, head, pos + 1, nameEnd);
      if (msg[nameEnd] !== EQUALS || msg[nameEnd + 1] !== QUOTE) {
        return `RFC 5424 SD-PARAM "${id}" "${name}": expected ="value" (RFC 5424 section 6.3.3)`;
      }
      const valueStart = nameEnd + 2;
      let i = valueStart;
      let escaped = false;
      // A backslash always takes the next byte with it: `\"` does not end the value. Whether the
      // backslash stays is decided when unescaping (section 6.3.3: only `\"`, `\\`, `\]` are escapes).
      for (;;) {
        const c = msg[i];
        if (c === undefined || c === QUOTE) break;
        if (c === BACKSLASH) {
          escaped = true;
          i += 2;
        } else {
          i += 1;
        }
      }
      if (i >= len) return `RFC 5424 PARAM-VALUE of "${id}" "${name}" not closed by '"' (RFC 5424 section 6.3.3)`;
      const value = utf8(msg, head, valueStart, i);
      setOwn(params, name, escaped ? value.replace(SD_ESCAPE, '$1') : value);
      pos = i + 1;
    }
    setOwn(elements, id, params);
  }
  return { data: elements, end: pos };
}

/**
 * Sets obj[key] as an own data property, under `key#2`, `key#3`, … when the key is taken. Defined
 * rather than assigned for `__proto__`, which assignment would take as the prototype.
 */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  let k = key;
  for (let n = 2; Object.hasOwn(obj, k); n++) k = `${key}#${n}`;
  if (k === '__proto__') Object.defineProperty(obj, k, { value, enumerable: true, writable: true, configurable: true });
  else obj[k] = value;
}

const SD_ESCAPE = /\\(["\\\]])/g;

/** SD-NAME (RFC 5424 section 6.3.2): PRINTUSASCII except `=`, SP, `]`, `"`. */
function sdNameEnd(msg: Buffer, pos: number): number {
  while (pos < msg.length) {
    const b = msg[pos] as number;
    if (b < 33 || b > 126 || b === EQUALS || b === RBRACKET || b === QUOTE) break;
    pos += 1;
  }
  return pos;
}

function checkSdName(msg: Buffer, start: number, end: number, what: string): string | undefined {
  if (end === start) return `RFC 5424 ${what} is empty (RFC 5424 section 6.3.2)`;
  if (end - start > MAX_SD_NAME) return `RFC 5424 ${what} longer than ${MAX_SD_NAME} bytes (RFC 5424 section 6.3.2)`;
  return undefined;
}

// --- RFC 3164 ---------------------------------------------------------------------------------

interface Timestamp {
  text: string;
  ms: number;
  end: number;
}

/**
 * RFC 3164 section 4.1.2: `Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`, and what senders make of it:
 * an RFC 3339 timestamp instead (rsyslog's "high precision" format), no HOSTNAME (the local
 * /dev/log convention), `TAG:` without a pid, no PRI. `pos` is just after the PRI, if any.
 */
function parse3164(msg: Buffer, head: string, pri: number | null, pos: number, opts: ParseSyslogOptions): SyslogMessage {
  const len = msg.length;
  const ts = bsdTimestamp(msg, head, pos, opts) ?? isoTimestamp(msg, head, pos);
  if (ts === null && pri === null) {
    return raw(msg, null, 'neither RFC 5424 nor RFC 3164: no PRI and no timestamp');
  }

  let hostname: string | null = null;
  let tagPos = pos;
  if (ts !== null) {
    pos = ts.end < len ? ts.end + 1 : len;
    tagPos = pos;
    // HOSTNAME is the first word unless that word is already the TAG: local senders (logger,
    // glibc's syslog(3) to /dev/log) leave the hostname out. A word longer than any hostname
    // (RFC 5424's 255 bytes) is message text.
    const wordEnd = tokenEnd(msg, pos);
    if (wordEnd > pos && wordEnd - pos <= MAX_HOSTNAME && parseTag(msg, head, pos, wordEnd) === null) {
      hostname = utf8(msg, head, pos, wordEnd);
      tagPos = wordEnd < len ? wordEnd + 1 : len;
    }
  }
  // With a PRI and no timestamp (RFC 3164 section 4.3.2, e.g. Python's SysLogHandler sending
  // `<14>tag: text`), what follows the PRI is the message, and it may still start with a TAG.

  let appName: string | null = null;
  let procId: string | null = null;
  let body = tagPos;
  const tagEnd = tokenEnd(msg, tagPos);
  let tag = tagEnd > tagPos ? parseTag(msg, head, tagPos, tagEnd) : null;
  // After a HOSTNAME the next word is the TAG even without ":" or "[pid]": RFC 3164 section 4.1.3
  // ends the TAG at any non-alphanumeric character, and rsyslog forwards `host app text` so.
  if (tag === null && hostname !== null && tagEnd > tagPos && tagEnd - tagPos <= MAX_APP_NAME && plainTag(msg, tagPos, tagEnd)) {
    tag = { appName: utf8(msg, head, tagPos, tagEnd), procId: null };
  }
  if (tag !== null) {
    appName = tag.appName;
    procId = tag.procId;
    body = tagEnd < len ? tagEnd + 1 : len;
  }

  const m: SyslogMessage = {
    format: 'rfc3164',
    pri: pri ?? USER_NOTICE,
    facility: (pri ?? USER_NOTICE) >> 3,
    severity: (pri ?? USER_NOTICE) & 7,
    timestamp: ts === null ? null : ts.text,
    timestampMs: ts === null ? null : ts.ms,
    hostname,
    appName,
    procId,
    msgId: null,
    structuredData: null,
    msg: msg.subarray(body),
  };
  if (pri === null) m.problem = 'no PRI: facility user, severity notice assumed (RFC 3164 section 4.3.3)';
  return m;
}

/**
 * A word that starts with a letter and goes on with letters, digits and `-_./` (what programs name
 * themselves), for a TAG without `:`; a number where the TAG would be (RFC 3164 section 5.4's
 * `CST 1987 …`) stays message text.
 */
function plainTag(msg: Buffer, start: number, end: number): boolean {
  const first = msg[start]!;
  if (!((first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a))) return false;
  for (let i = start; i < end; i++) {
    const b = msg[i]!;
    const ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f || b === 0x2e || b === 0x2f;
    if (!ok) return false;
  }
  return true;
}

/** RFC 3164 section 4.3.3: a message without PRI is user.notice (1 * 8 + 5). */
const USER_NOTICE = 13;

/**
 * A TAG word: `name[pid]:`, `name:` or `name[pid]` (RFC 3164 section 4.1.3 says alphanumeric up to
 * 32; in practice `postfix/smtpd`, `systemd-logind`, so anything up to APP-NAME's 48 bytes that has
 * no bracket or colon inside).
 */
function parseTag(msg: Buffer, head: string, start: number, end: number): { appName: string; procId: string | null } | null {
  let stop = end;
  if (msg[stop - 1] === COLON) stop -= 1;
  let nameEnd = stop;
  let procId: string | null = null;
  if (stop > start && msg[stop - 1] === RBRACKET) {
    const open = msg.lastIndexOf(LBRACKET, stop - 1);
    if (open < start || open + 1 === stop - 1) return null;
    nameEnd = open;
    procId = utf8(msg, head, open + 1, stop - 1);
  } else if (stop === end) {
    return null; // neither a colon nor [pid]: an ordinary word
  }
  if (nameEnd === start || nameEnd - start > MAX_APP_NAME) return null;
  for (let i = start; i < nameEnd; i++) {
    const b = msg[i];
    if (b === LBRACKET || b === RBRACKET || b === COLON) return null;
  }
  if (procId !== null && (procId.length > MAX_PROCID || procId.includes('[') || procId.includes(']'))) return null;
  return { appName: utf8(msg, head, start, nameEnd), procId };
}

/**
 * `Mmm dd hh:mm:ss` (RFC 3164 section 4.1.2) in the receiver's local time, the day space- or
 * zero-padded or bare; also `Mmm dd yyyy hh:mm:ss` (Cisco) and fractional seconds. With no year,
 * the year is the one that puts the timestamp nearest to now.
 */
function bsdTimestamp(msg: Buffer, head: string, pos: number, opts: ParseSyslogOptions): Timestamp | null {
  const len = msg.length;
  if (pos + 14 > len) return null;
  const month = MONTHS.indexOf(latin1(msg, head, pos, pos + 3));
  if (month === -1 || msg[pos + 3] !== SP) return null;
  let i = pos + 4;
  if (msg[i] === SP) i += 1; // "Feb  5": space-padded day
  let day = digitAt(msg, i);
  if (day < 0) return null;
  i += 1;
  const d2 = digitAt(msg, i);
  if (d2 >= 0) {
    day = day * 10 + d2;
    i += 1;
  }
  if (day < 1 || day > 31 || msg[i] !== SP) return null;
  i += 1;
  let year: number | null = null;
  if (msg[i + 4] === SP) {
    year = digits(msg, i, 4);
    if (year < 0) return null;
    i += 5;
  }
  const hour = digits(msg, i, 2);
  const minute = digits(msg, i + 3, 2);
  const second = digits(msg, i + 6, 2);
  if (msg[i + 2] !== COLON || msg[i + 5] !== COLON || hour < 0 || minute < 0 || second < 0) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  i += 8;
  let millis = 0;
  if (msg[i] === DOT) {
    const f = fraction(msg, i + 1, len, 9);
    if (f === null) return null;
    millis = f.ms;
    i = f.end;
  }
  if (i < len && msg[i] !== SP) return null;

  let ms: number | null;
  if (year !== null) {
    ms = localMs(year, month, day, hour, minute, second, millis);
  } else {
    ms = nearestYearMs(month, day, hour, minute, second, millis, opts.now ?? Date.now());
  }
  if (ms === null) return null;
  return { text: latin1(msg, head, pos, i), ms, end: i };
}

/** RFC 3164 has no year (section 4.1.2): take the year that puts the date nearest to `now`. */
function nearestYearMs(
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis: number,
  now: number,
): number | null {
  const year = new Date(now).getFullYear();
  let best = localMs(year, month, day, hour, minute, second, millis);
  if (best !== null && Math.abs(best - now) <= HALF_YEAR_MS) return best;
  for (const y of [year - 1, year + 1]) {
    const t = localMs(y, month, day, hour, minute, second, millis);
    if (t !== null && (best === null || Math.abs(t - now) < Math.abs(best - now))) best = t;
  }
  return best;
}

/** Local time, or null when the date does not exist (Feb 29 of a common year, Apr 31). */
function localMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis: number,
): number | null {
  const d = new Date(year, month, day, hour, minute, second, millis);
  if (d.getMonth() !== month || d.getDate() !== day) return null;
  return d.getTime();
}

/** An RFC 3339 timestamp as the first word (the "RFC 3164 with ISO timestamp" variant). */
function isoTimestamp(msg: Buffer, head: string, pos: number): Timestamp | null {
  const end = tokenEnd(msg, pos);
  const ms = parseRfc3339(msg, pos, end, false);
  if (Number.isNaN(ms)) return null;
  return { text: latin1(msg, head, pos, end), ms, end };
}

// --- shared -----------------------------------------------------------------------------------

/**
 * RFC 3339 `YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)` to epoch ms, NaN if invalid. `strict` is
 * RFC 5424 section 6.2.3: uppercase T and Z, at most 6 fraction digits, offset required. Otherwise
 * (ISO timestamps in RFC 3164 messages) up to 9 fraction digits and, without offset, local time.
 */
function parseRfc3339(msg: Buffer, start: number, end: number, strict: boolean): number {
  if (end - start < 19) return NaN;
  const year = digits(msg, start, 4);
  const month = digits(msg, start + 5, 2);
  const day = digits(msg, start + 8, 2);
  const hour = digits(msg, start + 11, 2);
  const minute = digits(msg, start + 14, 2);
  const second = digits(msg, start + 17, 2);
  if (
    msg[start + 4] !== DASH ||
    msg[start + 7] !== DASH ||
    msg[start + 10] !== UPPER_T ||
    msg[start + 13] !== COLON ||
    msg[start + 16] !== COLON ||
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59 // RFC 5424 section 6.2.3: leap seconds MUST NOT be used
  ) {
    return NaN;
  }
  let i = start + 19;
  let millis = 0;
  if (i < end && msg[i] === DOT) {
    const f = fraction(msg, i + 1, end, strict ? 6 : 9);
    if (f === null) return NaN;
    millis = f.ms;
    i = f.end;
  }
  if (i === end) {
    if (strict) return NaN;
    return localMs(year, month - 1, day, hour, minute, second, millis) ?? NaN;
  }
  let offsetMinutes = 0;
  if (msg[i] === UPPER_Z) {
    i += 1;
  } else if (msg[i] === PLUS || msg[i] === DASH) {
    const oh = digits(msg, i + 1, 2);
    const om = digits(msg, i + 4, 2);
    if (msg[i + 3] !== COLON || oh < 0 || oh > 23 || om < 0 || om > 59) return NaN;
    offsetMinutes = (msg[i] === PLUS ? 1 : -1) * (oh * 60 + om);
    i += 6;
  } else {
    return NaN;
  }
  if (i !== end) return NaN;
  return utcMs(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

/** Date.UTC reads years 0-99 as 1900-1999; shifting by a 400-year cycle keeps them literal. */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number): number {
  if (year >= 100) return Date.UTC(year, month, day, hour, minute, second, millis);
  return Date.UTC(year + 400, month, day, hour, minute, second, millis) - GREGORIAN_CYCLE_MS;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Fraction digits at `pos` (1..maxDigits, before `end`): milliseconds (further digits dropped). */
function fraction(msg: Buffer, pos: number, end: number, maxDigits: number): { ms: number; end: number } | null {
  let i = pos;
  let ms = 0;
  while (i < end && digitAt(msg, i) >= 0) {
    if (i - pos < 3) ms = ms * 10 + digitAt(msg, i);
    i += 1;
  }
  const n = i - pos;
  if (n === 0 || n > maxDigits) return null;
  for (let k = n; k < 3; k++) ms *= 10;
  return { ms, end: i };
}

/** The value of `n` decimal digits at `pos`, or -1. */
function digits(msg: Buffer, pos: number, n: number): number {
  let v = 0;
  for (let i = pos; i < pos + n; i++) {
    const d = digitAt(msg, i);
    if (d < 0) return -1;
    v = v * 10 + d;
  }
  return v;
}

function digitAt(msg: Buffer, i: number): number {
  const b = msg[i];
  return b !== undefined && b >= ZERO && b <= NINE ? b - ZERO : NOT_A_DIGIT;
}

/** msg[start, end) as latin1 (for fields that are ASCII by the grammar). */
function latin1(msg: Buffer, head: string, start: number, end: number): string {
  return end <= head.length ? head.slice(start, end) : msg.toString('latin1', start, end);
}

/** msg[start, end) as UTF-8: ASCII needs no decoding, so it comes from `head` when it lies there. */
function utf8(msg: Buffer, head: string, start: number, end: number): string {
  if (end > head.length) return msg.toString('utf8', start, end);
  for (let i = start; i < end; i++) if ((msg[i] as number) >= 0x80) return msg.toString('utf8', start, end);
  return head.slice(start, end);
}

/** Index of the next SP at or after `pos`, or the length. */
function tokenEnd(msg: Buffer, pos: number): number {
  const i = msg.indexOf(SP, pos);
  return i === -1 ? msg.length : i;
}

function isNil(msg: Buffer, start: number, end: number): boolean {
  return end - start === 1 && msg[start] === DASH;
}

function raw(msg: Buffer, pri: number | null, problem: string): SyslogMessage {
  return {
    format: 'raw',
    pri,
    facility: pri === null ? null : pri >> 3,
    severity: pri === null ? null : pri & 7,
    timestamp: null,
    timestampMs: null,
    hostname: null,
    appName: null,
    procId: null,
    msgId: null,
    structuredData: null,
    msg,
    problem,
  };
}
