/**
 * Key/value text as parse reads it: logfmt (https://brandur.org/logfmt, as go-logfmt writes it) and
 * the looser key=value form with configurable separators.
 *
 * Both write into a caller-owned object and return the number of pairs found or, when the text
 * cannot be read, a short message saying why. A key named `__proto__` is skipped: assigning it
 * would replace the object's prototype instead of adding a field.
 */

// Set by readQuoted: the index just after the closing quote (avoids an object per quoted value).
let quotedEnd = 0;

/**
 * Reads the double-quoted string starting at text[start] === '"'; returns its value, or undefined
 * when the closing quote is missing. Escapes are JSON's, which is what go-logfmt writes.
 */
function readQuoted(text: string, start: number): string | undefined {
  let escaped = false;
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 /* \ */) {
      escaped = true;
      i++;
    } else if (c === 34 /* " */) {
      quotedEnd = i + 1;
      const body = text.slice(start + 1, i);
      return escaped ? unescape(body) : body;
    }
  }
  return undefined;
}

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '"': '"', '\\': '\\', '/': '/' };

function unescape(body: string): string {
  return body.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (all, e: string) => {
    if (e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    // An escape JSON does not know is kept as written rather than failing the whole line.
    return SIMPLE_ESCAPES[e] ?? all;
  });
}

/** Space, tab and the other C0 controls separate logfmt pairs. */
function isSpace(c: number): boolean {
  return c <= 32;
}

/**
 * logfmt: `key=value key="quoted value" flag`. A bare key means `true`. A line without a single
 * key=value pair is not logfmt (otherwise every line of plain text would "parse").
 */
export function parseLogfmt(text: string, into: Record<string, unknown>): number | string {
  const n = text.length;
  let pairs = 0;
  let i = 0;
  while (i < n) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) break;
    const keyStart = i;
    let c = text.charCodeAt(i);
    while (i < n && !isSpace(c) && c !== 61 /* = */ && c !== 34 /* " */) c = text.charCodeAt(++i);
    if (i === keyStart) return `logfmt: unexpected '${text[i]}' at position ${i}, expected a key`;
    const key = text.slice(keyStart, i);
    if (i >= n || isSpace(c)) {
      if (key !== '__proto__') into[key] = true;
      continue;
    }
    if (c === 34) return `logfmt: unexpected '"' in key "${key}"`;
    i++; // '='
    let value: string;
    if (i < n && text.charCodeAt(i) === 34) {
      const q = readQuoted(text, i);
      if (q === undefined) return `logfmt: unterminated quoted value of "${key}"`;
      value = q;
      i = quotedEnd;
    } else {
      const valueStart = i;
      while (i < n && !isSpace(text.charCodeAt(i))) i++;
      value = text.slice(valueStart, i);
    }
    if (key !== '__proto__') into[key] = value;
    pairs++;
  }
  return pairs > 0 ? pairs : 'logfmt: no key=value pairs';
}

/** Where the token starting at `from` ends: at the pair separator, or at whitespace when there is none. */
function tokenEnd(text: string, from: number, ps: string | undefined): number {
  if (ps === undefined) {
    let j = from;
    while (j < text.length && !isSpace(text.charCodeAt(j))) j++;
    return j;
  }
  const j = text.indexOf(ps, from);
  return j === -1 ? text.length : j;
}

export interface KeyValueOptions {
  /** Between pairs; undefined means any run of whitespace. */
  pairSeparator: string | undefined;
  /** Between a key and its value. */
  keyValueSeparator: string;
}

/**
 * key=value pairs among other text: `GET /x status=200 user="a b"`. Tokens without the key/value
 * separator are skipped (free text around the pairs); a value may be double-quoted. With a literal
 * pair separator, keys and unquoted values are trimmed (`a=1, b=2`). A line with no pair fails.
 */
export function parseKeyValue(text: string, opts: KeyValueOptions, into: Record<string, unknown>): number | string {
  const { pairSeparator: ps, keyValueSeparator: kvs } = opts;
  const n = text.length;
  let pairs = 0;
  let i = 0;
  // Next position of the key/value separator at or after i; -1 once there is none left.
  let nextKv = -2;
  while (i < n) {
    if (ps === undefined) {
      while (i < n && isSpace(text.charCodeAt(i))) i++;
    } else {
      while (text.startsWith(ps, i)) i += ps.length;
    }
    if (i >= n) break;
    const end = tokenEnd(text, i, ps);
    if (nextKv !== -1 && nextKv < i) nextKv = text.indexOf(kvs, i);
    if (nextKv === -1 || nextKv >= end) {
      i = end;
      continue;
    }
    const key = ps === undefined ? text.slice(i, nextKv) : text.slice(i, nextKv).trim();
    i = nextKv + kvs.length;
    let valueStart = i;
    if (ps !== undefined) while (valueStart < n && text.charCodeAt(valueStart) === 32) valueStart++;
    let value: string;
    if (valueStart < n && text.charCodeAt(valueStart) === 34) {
      const q = readQuoted(text, valueStart);
      if (q === undefined) return `kv: unterminated quoted value of "${key}"`;
      value = q;
      i = quotedEnd;
    } else {
      // The value runs to the next pair separator, even when a quoted key/value separator came first.
      const valueEnd = tokenEnd(text, i, ps);
      value = ps === undefined ? text.slice(i, valueEnd) : text.slice(i, valueEnd).trim();
      i = valueEnd;
    }
    if (key === '' || key === '__proto__') continue;
    into[key] = value;
    pairs++;
  }
  return pairs > 0 ? pairs : `kv: no pairs with "${kvs}"`;
}
