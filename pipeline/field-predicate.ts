/**
 * Field references and predicates shared by filter, validate, classify and alarm.
 *
 * A field reference names a record attribute (`data`, `class`, `instance`, `host`, `stream`,
 * `provider`, `source`, `ts`, `seq`, `id`, `kind`) or, with a prefix, a parsed field
 * (`fields.status`, `fields.req.path`) or a source attribute (`attrs.severity`).
 *
 * A predicate is `{ field, <one comparison> }` or a combination `{ all: [...] }`,
 * `{ any: [...] }`, `{ not: {...} }`. Numbers compare numerically (numeric strings are converted),
 * everything else as strings.
 */
import { z } from 'zod';
import type { PipelineRecord } from './record.js';

const TOP_LEVEL = new Set(['data', 'class', 'instance', 'host', 'stream', 'provider', 'source', 'ts', 'seq', 'id', 'kind']);

export const FieldRefSchema = z
  .string()
  .refine((f) => TOP_LEVEL.has(f) || /^(fields|attrs)\.[^.\s]+(\.[^.\s]+)*$/.test(f), {
    message: `must be one of ${[...TOP_LEVEL].join(', ')}, or fields.<name> / attrs.<name>`,
  })
  .describe('Record attribute (data, class, instance, ...) or fields.<name> / attrs.<name>');

/** Returns a reader for a field reference (validated by FieldRefSchema). */
export function fieldReader(ref: string): (r: PipelineRecord) => unknown {
  if (ref === 'data') return (r) => r.data.toString('utf8');
  if (TOP_LEVEL.has(ref)) return (r) => (r as unknown as Record<string, unknown>)[ref];
  const [root, ...rest] = ref.split('.');
  if (rest.length === 1) {
    const k = rest[0]!;
    return root === 'fields' ? (r) => r.fields[k] : (r) => r.attrs?.[k];
  }
  return (r) => {
    let v: unknown = root === 'fields' ? r.fields : r.attrs;
    for (let i = 0; i < rest.length; i++) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[rest[i]!];
    }
    return v;
  };
}

/** A regular expression given in config; the message names the pattern when it does not compile. */
export const RegexSchema = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(err as Error).message}` });
  }
});

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const ComparisonSchema = z.strictObject({
  field: FieldRefSchema,
  eq: Scalar.optional().describe('Equal to'),
  ne: Scalar.optional().describe('Not equal to'),
  gt: z.number().optional().describe('Greater than (numeric)'),
  gte: z.number().optional().describe('Greater than or equal (numeric)'),
  lt: z.number().optional().describe('Less than (numeric)'),
  lte: z.number().optional().describe('Less than or equal (numeric)'),
  in: z.array(Scalar).optional().describe('One of these values'),
  exists: z.boolean().optional().describe('The field is present (true) or absent (false)'),
  matches: RegexSchema.optional().describe('The value as a string matches this regular expression'),
});

export type Predicate =
  | z.infer<typeof ComparisonSchema>
  | { all: Predicate[] }
  | { any: Predicate[] }
  | { not: Predicate };

export const PredicateSchema: z.ZodType<Predicate> = z.lazy(() =>
  z.union([
    ComparisonSchema.refine(
      (c) => ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'exists', 'matches'].some((k) => (c as Record<string, unknown>)[k] !== undefined),
      { message: 'a comparison needs one of eq, ne, gt, gte, lt, lte, in, exists, matches' },
    ),
    z.strictObject({ all: z.array(PredicateSchema).min(1) }),
    z.strictObject({ any: z.array(PredicateSchema).min(1) }),
    z.strictObject({ not: PredicateSchema }),
  ]),
);

export type CompiledPredicate = (r: PipelineRecord) => boolean;

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || a === null || b === null) return false;
  if (typeof b === 'number') return asNumber(a) === b;
  if (typeof a === 'string' && typeof b === 'string') return false; // a === b above
  return String(a) === String(b);
}

export function compilePredicate(p: Predicate): CompiledPredicate {
  if ('all' in p) {
    const parts = p.all.map(compilePredicate);
    return (r) => parts.every((f) => f(r));
  }
  if ('any' in p) {
    const parts = p.any.map(compilePredicate);
    return (r) => parts.some((f) => f(r));
  }
  if ('not' in p) {
    const inner = compilePredicate(p.not);
    return (r) => !inner(r);
  }
  const read = fieldReader(p.field);
  const checks: ((v: unknown) => boolean)[] = [];
  if (p.exists !== undefined) checks.push((v) => (v !== undefined && v !== null) === p.exists);
  if (p.eq !== undefined) checks.push((v) => same(v, p.eq));
  if (p.ne !== undefined) checks.push((v) => !same(v, p.ne));
  if (p.in !== undefined) checks.push((v) => p.in!.some((x) => same(v, x)));
  const num = (cmp: (n: number) => boolean) => (v: unknown) => {
    const n = asNumber(v);
    return n !== undefined && cmp(n);
  };
  if (p.gt !== undefined) checks.push(num((n) => n > p.gt!));
  if (p.gte !== undefined) checks.push(num((n) => n >= p.gte!));
  if (p.lt !== undefined) checks.push(num((n) => n < p.lt!));
  if (p.lte !== undefined) checks.push(num((n) => n <= p.lte!));
  if (p.matches !== undefined) {
    const re = new RegExp(p.matches);
    checks.push((v) => v !== undefined && v !== null && re.test(typeof v === 'string' ? v : String(v)));
  }
  if (checks.length === 1) {
    const check = checks[0]!;
    return (r) => check(read(r));
  }
  return (r) => {
    const v = read(r);
    for (let i = 0; i < checks.length; i++) if (!checks[i]!(v)) return false;
    return true;
  };
}
