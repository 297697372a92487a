/**
 * A syslog message as the syslog input understands it, whichever of RFC 5424 or RFC 3164 it
 * followed, and the `attrs` map it becomes on the record. Parsing is in syslog-parse.ts.
 */

export type SyslogFormat = 'rfc5424' | 'rfc3164' | 'raw';

export interface SyslogMessage {
  /** 'raw' when the header followed neither RFC; `problem` then says why. */
  format: SyslogFormat;
  /** PRIVAL (facility * 8 + severity), 0..191; null when absent or unusable. */
  pri: number | null;
  facility: number | null;
  severity: number | null;
  /** The timestamp exactly as sent (RFC 5424 TIMESTAMP, RFC 3164 `Mmm dd hh:mm:ss`, …). */
  timestamp: string | null;
  /** The timestamp in milliseconds since the epoch (sub-millisecond digits are dropped). */
  timestampMs: number | null;
  hostname: string | null;
  /** RFC 5424 APP-NAME, or the RFC 3164 TAG. */
  appName: string | null;
  /** RFC 5424 PROCID, or the `[pid]` after an RFC 3164 TAG. */
  procId: string | null;
  msgId: string | null;
  /** RFC 5424 STRUCTURED-DATA: SD-ID -> PARAM-NAME -> value (escapes resolved). */
  structuredData: Record<string, Record<string, string>> | null;
  /** The message body, byte for byte (a view into the input; a UTF-8 BOM is stripped). */
  msg: Buffer;
  /** Why the message is raw, or what the parser had to assume for a message it did parse. */
  problem?: string;
}

/** Severity names by code (RFC 5424 section 6.2.1, table 2), as syslog.conf spells them. */
export const SEVERITY_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

export type SeverityName = (typeof SEVERITY_NAMES)[number];

/**
 * Facility names by code (RFC 5424 section 6.2.1, table 1). Codes 13-15 have no common name in the
 * RFC ("log audit", "log alert", "clock daemon"); these are the names rsyslog and Linux use.
 */
export const FACILITY_NAMES = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'ntp',
  'security',
  'console',
  'solaris-cron',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

export type FacilityName = (typeof FACILITY_NAMES)[number];

/** The highest valid PRIVAL: facility local7 (23), severity debug (7). */
export const MAX_PRI = FACILITY_NAMES.length * 8 - 1;

/**
 * The fields that travel with the record as its `attrs` (a plain, MessagePack-friendly object).
 * Absent fields are omitted rather than nil so that consumers see only what the sender said. The
 * message's own timestamp goes beside the gateway's `ts` as ISO 8601 UTC. A type, not an interface,
 * so that it is assignable to IngestLine's `attrs: Record<string, unknown>`.
 */
export type SyslogAttrs = {
  format: SyslogFormat;
  facility?: FacilityName;
  facilityCode?: number;
  severity?: SeverityName;
  severityCode?: number;
  timestamp?: string;
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
  structuredData?: Record<string, Record<string, string>>;
  problem?: string;
};

export function syslogAttrs(m: SyslogMessage): SyslogAttrs {
  const a: SyslogAttrs = { format: m.format };
  if (m.facility !== null) {
    const name = FACILITY_NAMES[m.facility];
    if (name !== undefined) a.facility = name;
    a.facilityCode = m.facility;
  }
  if (m.severity !== null) {
    const name = SEVERITY_NAMES[m.severity];
    if (name !== undefined) a.severity = name;
    a.severityCode = m.severity;
  }
  if (m.timestampMs !== null) a.timestamp = isoTimestamp(m.timestampMs);
  if (m.hostname !== null) a.hostname = m.hostname;
  if (m.appName !== null) a.appName = m.appName;
  if (m.procId !== null) a.procId = m.procId;
  if (m.msgId !== null) a.msgId = m.msgId;
  if (m.structuredData !== null) a.structuredData = m.structuredData;
  if (m.problem !== undefined) a.problem = m.problem;
  return a;
}

/** "000Z" to "999Z": the end of isoTimestamp's text. */
const MILLIS = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(3, '0')}Z`);

const MAX_DATE_MS = 8.64e15;

/** The second isoPrefix is for, in milliseconds since the epoch (its first millisecond). */
let isoSecond = NaN;
/** `toISOString()` of isoSecond without its milliseconds and `Z`: `2026-11-22T08:39:54.`. */
let isoPrefix = '';

/**
 * `new Date(ms).toISOString()`, which was most of syslogAttrs' time. Messages come in bursts
 * stamped with the same second, so the text up to the milliseconds is kept for the last second seen.
 */
function isoTimestamp(ms: number): string {
  // What Date makes of a fraction (TimeClip truncates); Infinity and NaN miss and throw as before.
  const t = Math.trunc(ms);
  let millis = t % 1000;
  if (millis < 0) millis += 1000;
  const second = t - millis;
  // The last second of the Date range has only its first millisecond.
  if (second === isoSecond && t <= MAX_DATE_MS) return isoPrefix + MILLIS[millis];
  const iso = new Date(t).toISOString();
  isoSecond = second;
  isoPrefix = iso.slice(0, -4);
  return iso;
}
