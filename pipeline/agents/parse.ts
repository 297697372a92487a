/**
 * parse: extracts fields from the line (or from a text field) by a regular expression with named
 * groups, JSON, logfmt or key=value pairs, and attaches them to record.fields.
 *
 * A record that does not parse is never dropped: it goes on flagged `parse_failed`, with
 * fields._parse_error saying what was wrong, so validate, filter or the archive can deal with it.
 */
import { z } from 'zod';
import { defineAgent } from '../agent.js';
import { fieldReader, FieldRefSchema, RegexSchema } from '../field-predicate.js';
import { parseKeyValue, parseLogfmt, type KeyValueOptions } from '../logfmt.js';
import { FLAGS, type PipelineRecord } from '../record.js';

const DEFAULTS = {
  source: 'data',
  keyValueSeparator: '=',
  /** Longest _parse_error message; a JSON error can quote much of the line. */
  maxErrorLength: 200,
} as const;

const FORMATS = ['regex', 'json', 'logfmt', 'kv'] as const;
const FIELD_TYPES = ['int', 'float', 'bool', 'string'] as const;
type FieldType = (typeof FIELD_TYPES)[number];

/** A name usable as fields.<name> in a field reference; `__proto__` would replace the prototype. */
const FieldNameSchema = z
  .string()
  .regex(/^[^.\s]+$/, 'a field name has no "." or whitespace')
  .refine((s) => s !== '__proto__', '"__proto__" cannot be a field name');

/** The named groups of `pattern`, or undefined when it does not compile. */
function namedGroups(pattern: string): string[] | undefined {
  try {
    // The empty alternative always matches, and `groups` lists every named group even when unset.
    return Object.keys(new RegExp(`(?:${pattern})|`).exec('')?.groups ?? {});
  } catch {
    return undefined;
  }
}

export const ParseConfigSchema = z
  .strictObject({
    format: z
      .enum(FORMATS)
      .describe('How to read the text: regex (named groups), json (an object), logfmt, or kv (key=value pairs with configurable separators)'),
    pattern: RegexSchema.optional().describe(
      'format regex only: the regular expression; each named group (?<name>...) becomes a field. Required with regex',
    ),
    source: FieldRefSchema.default(DEFAULTS.source).describe('What to parse: data (the line, the default) or a text field such as fields.message'),
    target: FieldNameSchema.optional().describe('Puts the extracted fields under fields.<target> instead of merging them into fields'),
    pairSeparator: z.string().min(1).optional().describe('format kv only: the text between pairs (default: any run of whitespace)'),
    keyValueSeparator: z.string().min(1).default(DEFAULTS.keyValueSeparator).describe('format kv only: the text between a key and its value'),
    types: z
      .record(z.string().min(1), z.enum(FIELD_TYPES))
      .default(() => ({}))
      .describe('Converts extracted fields by name, e.g. { status: int, latency: float, ok: bool }; a value that does not convert flags the record'),
  })
  .superRefine((c, ctx) => {
    if (c.format === 'regex') {
      if (c.pattern === undefined) {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'format regex needs a pattern with named groups, e.g. "^(?<status>\\d{3}) "' });
      } else {
        const groups = namedGroups(c.pattern);
        if (groups !== undefined && groups.length === 0) {
          ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'the pattern has no named group; write (?<name>...) for each field to extract' });
        }
        if (groups?.includes('__proto__')) ctx.addIssue({ code: 'custom', path: ['pattern'], message: '"__proto__" cannot be a group name' });
        for (const name of Object.keys(c.types)) {
          if (groups !== undefined && !groups.includes(name)) {
            ctx.addIssue({ code: 'custom', path: ['types', name], message: `"${name}" is not a named group of the pattern (groups: ${groups.join(', ')})` });
          }
        }
      }
    } else if (c.pattern !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `pattern is only used with format regex, not ${c.format}; remove it` });
    }
    if (c.format !== 'kv') {
      if (c.pairSeparator !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['pairSeparator'], message: `pairSeparator is only used with format kv, not ${c.format}; remove it` });
      }
      if (c.keyValueSeparator !== DEFAULTS.keyValueSeparator) {
        ctx.addIssue({ code: 'custom', path: ['keyValueSeparator'], message: `keyValueSeparator is only used with format kv, not ${c.format}; remove it` });
      }
    } else if (c.pairSeparator !== undefined && c.pairSeparator === c.keyValueSeparator) {
      ctx.addIssue({ code: 'custom', path: ['pairSeparator'], message: 'pairSeparator and keyValueSeparator must differ' });
    }
  });
export type ParseConfig = z.infer<typeof ParseConfigSchema>;

/**
 * Fills the record's fields from `text`; returns the object that now holds the extracted fields
 * (for type conversion), or a message saying why the text did not parse.
 */
type Extractor = (text: string, r: PipelineRecord) => Record<string, unknown> | string;

/** Capturing groups of `pattern`, counted by the engine. */
function groupCount(pattern: string): number {
  return new RegExp(`(?:${pattern})|`).exec('')!.length - 1;
}

/**
 * `pattern` with each named group made a plain one (`\k<name>` a numbered backreference), and the
 * number of each named group; undefined when that cannot be done with certainty (the caller then
 * keeps the named groups). For every match of a pattern with named groups the engine builds a
 * `groups` object (a dictionary) that parse only copies from: building it and looking the names up
 * in it was a seventh of what parse spent on an nginx line, and more of the garbage it left.
 */
export function numberedGroups(pattern: string): { source: string; numbers: Map<string, number> } | undefined {
  const numbers = new Map<string, number>();
  // Pass 1: number the groups. Outside a class `(` opens a capturing group unless `?` follows
  // (`(?<name>` being the named kind); inside `[...]` nothing does, and `\` escapes one character.
  let count = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') {
      if (pattern[i + 1] !== '?') count++;
      else if (pattern[i + 2] === '<' && pattern[i + 3] !== '=' && pattern[i + 3] !== '!') {
        const end = pattern.indexOf('>', i + 3);
        const name = pattern.slice(i + 3, end);
        if (end < 0 || numbers.has(name)) return undefined;
        numbers.set(name, ++count);
      }
    }
  }
  // Pass 2: rewrite.
  let source = '';
  inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      if (!inClass && pattern[i + 1] === 'k' && pattern[i + 2] === '<') {
        const end = pattern.indexOf('>', i + 3);
        const n = numbers.get(pattern.slice(i + 3, end));
        if (end < 0 || n === undefined) return undefined;
        source += `(?:\\${n})`; // the group keeps a digit that follows out of the number
        i = end;
      } else {
        source += pattern.slice(i, i + 2);
        i++;
      }
    } else if (inClass) {
      inClass = c !== ']';
      source += c;
    } else if (c === '[') {
      inClass = true;
      source += c;
    } else if (c === '(' && pattern[i + 1] === '?' && pattern[i + 2] === '<' && pattern[i + 3] !== '=' && pattern[i + 3] !== '!') {
      source += '(';
      i = pattern.indexOf('>', i + 3);
    } else source += c;
  }
  // The engine must see the groups as counted here, and the names must be the engine's.
  try {
    const names = namedGroups(pattern);
    if (groupCount(source) !== count || groupCount(pattern) !== count || names?.length !== numbers.size || !names.every((n) => numbers.has(n))) return undefined;
  } catch {
    return undefined;
  }
  return { source, numbers };
}

function regexExtractor(pattern: string, target: string | undefined): Extractor {
  const names = namedGroups(pattern) ?? [];
  const numbered = numberedGroups(pattern);
  if (numbered === undefined) {
    const re = new RegExp(pattern);
    return (text, r) => {
      const m = re.exec(text);
      if (m === null) return 'regex: the text does not match the pattern';
      const groups = m.groups as Record<string, string | undefined>;
      // Straight into the record's fields: no intermediate object on the hot path.
      const dest = target === undefined ? r.fields : (r.fields[target] = {});
      for (let k = 0; k < names.length; k++) {
        const name = names[k]!;
        const v = groups[name];
        if (v !== undefined) dest[name] = v;
      }
      return dest;
    };
  }
  const re = new RegExp(numbered.source);
  const numbers = names.map((n) => numbered.numbers.get(n)!);
  const build = fieldsBuilder(names, numbers);
  return (text, r) => {
    const m = re.exec(text);
    if (m === null) return 'regex: the text does not match the pattern';
    const obj = build(m);
    if (obj !== undefined) {
      if (target !== undefined) r.fields[target] = obj;
      else if (isEmpty(r.fields)) r.fields = obj;
      else return Object.assign(r.fields, obj);
      return obj;
    }
    // A group that took no part: straight into the record's fields, leaving it out.
    const dest = target === undefined ? r.fields : (r.fields[target] = {});
    for (let k = 0; k < names.length; k++) {
      const v = m[numbers[k]!];
      if (v !== undefined) dest[names[k]!] = v;
    }
    return dest;
  };
}

/**
 * A function that builds the fields of a match as one object literal, the groups in pattern order,
 * or returns undefined when a group took no part in the match. One allocation with every property
 * in place and one hidden class for all records: adding the fields one by one to an empty object
 * was the largest cost of parse after the regular expression itself.
 */
function fieldsBuilder(names: readonly string[], numbers: readonly number[]): (m: RegExpExecArray) => Record<string, unknown> | undefined {
  if (names.length === 0 || names.length > 64 || names.includes('__proto__')) return () => undefined;
  // Group names are identifiers (the RegExp syntax says so) and numbers are numbers; the names are
  // quoted anyway, so the generated code is exactly the literal of those names.
  const reads = numbers.map((n, k) => `const v${k} = m[${n}];`).join('\n');
  const missing = numbers.map((_, k) => `v${k} === undefined`).join(' || ');
  const literal = names.map((name, k) => `${JSON.stringify(name)}: v${k}`).join(', ');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from group names and numbers only
  return new Function('m', `${reads}\nif (${missing}) return undefined;\nreturn { ${literal} };`) as (m: RegExpExecArray) => Record<string, unknown> | undefined;
}

function isEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}

/** Puts a freshly extracted object where the config says. */
function place(obj: Record<string, unknown>, r: PipelineRecord, target: string | undefined): Record<string, unknown> {
  if (target !== undefined) {
    r.fields[target] = obj;
    return obj;
  }
  const fields = r.fields;
  for (const key of Object.keys(obj)) {
    // JSON.parse makes "__proto__" an own key; assigning it would swap the prototype of fields.
    if (key !== '__proto__') fields[key] = obj[key];
  }
  return fields;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' || t === 'undefined' ? `an ${t}` : `a ${t}`;
}

function jsonExtractor(target: string | undefined): Extractor {
  return (text, r) => {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      return `json: ${(err as Error).message}`;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return `json: the text is ${kindOf(v)}, not an object`;
    return place(v as Record<string, unknown>, r, target);
  };
}

function logfmtExtractor(target: string | undefined): Extractor {
  return (text, r) => {
    const obj: Record<string, unknown> = {};
    const res = parseLogfmt(text, obj);
    return typeof res === 'string' ? res : place(obj, r, target);
  };
}

function kvExtractor(opts: KeyValueOptions, target: string | undefined): Extractor {
  return (text, r) => {
    const obj: Record<string, unknown> = {};
    const res = parseKeyValue(text, opts, obj);
    return typeof res === 'string' ? res : place(obj, r, target);
  };
}

const FAILED = Symbol('conversion failed');
const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const BOOLS = new Map<string, boolean>([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
  ['yes', true],
  ['no', false],
  ['on', true],
  ['off', false],
]);

/**
 * `s` as an int when it is 1 to 15 decimal digits (what log fields hold), read a character at a
 * time: cheaper than a regular expression test and Number(). NaN for anything else.
 */
function shortDigits(s: string): number {
  const n = s.length;
  if (n === 0 || n > 15) return NaN;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/** True when `s` is digits with at most one `.` among or after them: a float as FLOAT reads it. */
function plainDecimal(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 32) return false;
  let dot = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 && !dot && i > 0) dot = true;
    else if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Per type, its conversion of an extracted value: the value, or FAILED. */
const CONVERTERS: Record<FieldType, (v: unknown) => unknown> = {
  int: (v) => {
    if (typeof v === 'string') {
      const quick = shortDigits(v);
      if (!Number.isNaN(quick)) return quick;
    }
    const n = typeof v === 'number' ? v : typeof v === 'string' && INT.test(v) ? Number(v) : NaN;
    return Number.isSafeInteger(n) ? n : FAILED;
  },
  float: (v) => {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && plainDecimal(v)) return Number(v);
    return typeof v === 'string' && FLOAT.test(v) ? Number(v) : FAILED;
  },
  bool: (v) => {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string') return BOOLS.get(v.toLowerCase()) ?? FAILED;
    return v === 0 || v === 1 ? v === 1 : FAILED;
  },
  string: (v) => {
    if (typeof v === 'string') return v;
    return typeof v === 'number' || typeof v === 'boolean' ? String(v) : FAILED;
  },
};

interface TypedField {
  name: string;
  type: FieldType;
  convert: (v: unknown) => unknown;
}

function shortValue(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : kindOf(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Converts the typed fields present in `obj`; returns the first failure, leaving that value as it was. */
function convertTypes(obj: Record<string, unknown>, types: readonly TypedField[]): string | undefined {
  let problem: string | undefined;
  for (let k = 0; k < types.length; k++) {
    const t = types[k]!;
    const v = obj[t.name];
    if (v === undefined) continue;
    const converted = t.convert(v);
    if (converted === FAILED) problem ??= `types: ${t.name} is ${shortValue(v)}, not ${t.type === 'int' ? 'an int' : `a ${t.type}`}`;
    else obj[t.name] = converted;
  }
  return problem;
}

function flagFailed(r: PipelineRecord, message: string): void {
  if (!r.flags.includes(FLAGS.parseFailed)) r.flags.push(FLAGS.parseFailed);
  r.fields._parse_error = message.length > DEFAULTS.maxErrorLength ? `${message.slice(0, DEFAULTS.maxErrorLength - 3)}...` : message;
}

export const parse = defineAgent<ParseConfig>({
  type: 'parse',
  description: 'Extracts fields from the line by regex with named groups, JSON, logfmt or key=value',
  configSchema: ParseConfigSchema,
  ports: () => ['out'],
  sink: false,
  create: (c) => {
    const extract: Extractor =
      c.format === 'regex'
        ? regexExtractor(c.pattern ?? '', c.target)
        : c.format === 'json'
          ? jsonExtractor(c.target)
          : c.format === 'logfmt'
            ? logfmtExtractor(c.target)
            : kvExtractor({ pairSeparator: c.pairSeparator, keyValueSeparator: c.keyValueSeparator }, c.target);
    const types: TypedField[] = Object.entries(c.types).map(([name, type]) => ({ name, type, convert: CONVERTERS[type] }));
    const source = c.source;
    const read = source === 'data' ? undefined : fieldReader(source);

    return {
      process(batch, out) {
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i]!;
          let text: string;
          if (read === undefined) {
            text = r.data.toString('utf8');
          } else {
            const v = read(r);
            if (typeof v === 'string') text = v;
            else if (Buffer.isBuffer(v)) text = v.toString('utf8');
            else {
              flagFailed(r, v === undefined || v === null ? `${source} is missing` : `${source} is ${kindOf(v)}, not text`);
              out.emit('out', r);
              continue;
            }
          }
          const res = extract(text, r);
          if (typeof res === 'string') flagFailed(r, res);
          else if (types.length > 0) {
            const problem = convertTypes(res, types);
            if (problem !== undefined) flagFailed(r, problem);
          }
          out.emit('out', r);
        }
      },
    };
  },
});
