/** Times and durations as the CLI takes them (--from, --to, --since, --bucket). */
import { LogfsError } from '../core/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `5m`, `1h`, `1d` (or a plain number of milliseconds) in milliseconds. */
export function parseDurationArg(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new LogfsError('LOGFS_E_CONFIG', `--${option} "${text}" is not a duration; write e.g. 30s, 5m, 1h or 1d`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!);
}

/**
 * `now`; a time relative to now (`-15m`, `-2h`, `-1d`, or without the minus); an ISO 8601
 * date or time; or milliseconds since the epoch.
 */
export function parseTimeArg(text: string, option: string, now = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return now;
  if (/^-?\d+(?:\.\d+)?(ms|s|m|h|d)$/.test(t)) return now - parseDurationArg(t.replace(/^-/, ''), option);
  if (/^\d{10,}$/.test(t)) return Number(t);
  const ms = Date.parse(t);
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}/.test(t)) {
    throw new LogfsError('LOGFS_E_CONFIG', `--${option} "${text}" is not a time; write an ISO time (2024-05-01T12:00:00Z), now, or a relative one (-15m, -2h, -1d)`);
  }
  return ms;
}
