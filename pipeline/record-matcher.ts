/**
 * "Does this record match?" as filter, validate and classify configure it: either a regular
 * expression on the line (or on one field), or a predicate on fields.
 *
 *   { match: '^ERROR', ignoreCase: true }             # regex on data
 *   { match: '^5', field: fields.status }             # regex on a field
 *   { when: { field: fields.status, gte: 500 } }      # predicate (pipeline/field-predicate.ts)
 */
import { z } from 'zod';
import { compilePredicate, fieldReader, FieldRefSchema, PredicateSchema, RegexSchema, type Predicate } from './field-predicate.js';
import type { PipelineRecord } from './record.js';

/** Fields of a matcher; classify spreads them into its rules, so they stay a plain shape. */
export const RecordMatcherShape = {
  match: RegexSchema.optional().describe('Regular expression searched for in `field` (JavaScript syntax, not anchored unless you write ^ or $)'),
  field: FieldRefSchema.optional().describe('What `match` runs on: data (the line, the default) or a field such as fields.msg'),
  ignoreCase: z.boolean().optional().describe('Makes `match` case-insensitive (default false)'),
  when: PredicateSchema.optional().describe('Predicate on the record, e.g. { field: fields.status, gte: 500 }; instead of `match`'),
};

export interface RecordMatcher {
  match?: string | undefined;
  field?: string | undefined;
  ignoreCase?: boolean | undefined;
  when?: Predicate | undefined;
}

/** Exactly one of match / when; field and ignoreCase only go with match. Issues name the option. */
export function checkMatcher(m: RecordMatcher, ctx: z.RefinementCtx, what = 'a matcher'): void {
  if ((m.match === undefined) === (m.when === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: m.match === undefined ? [] : ['when'],
      message: `${what} needs exactly one of "match" (a regular expression) or "when" (a predicate)`,
    });
  }
  if (m.match === undefined) {
    for (const key of ['field', 'ignoreCase'] as const) {
      if (m[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" only applies to "match"; remove it or use "match"` });
    }
  }
}

export const RecordMatcherSchema = z.strictObject(RecordMatcherShape).superRefine((m, ctx) => checkMatcher(m, ctx));

/**
 * The decoded text of the last record asked for. Several matchers on `data` in one agent (classify
 * rules, a filter's pass and drop) share one, so each line is decoded once, not once per rule.
 */
export class DataText {
  private last: PipelineRecord | undefined;
  private text = '';

  of(r: PipelineRecord): string {
    // `data` is never mutated (record.ts), so the record's identity is a safe cache key.
    if (r !== this.last) {
      this.text = r.data.toString('utf8');
      this.last = r;
    }
    return this.text;
  }

  /** Lets go of the last record so a finished batch is not kept alive. */
  release(): void {
    this.last = undefined;
    this.text = '';
  }
}

export type RecordTest = (r: PipelineRecord) => boolean;

export function compileMatcher(m: RecordMatcher, text: DataText): RecordTest {
  if (m.when !== undefined) return compilePredicate(m.when);
  // No g or y flag: test() then keeps no lastIndex state between records.
  const re = new RegExp(m.match ?? '', m.ignoreCase ? 'i' : '');
  const field = m.field ?? 'data';
  if (field === 'data') return (r) => re.test(text.of(r));
  const read = fieldReader(field);
  return (r) => {
    const v = read(r);
    return v !== undefined && v !== null && re.test(typeof v === 'string' ? v : String(v));
  };
}

/** Short text for reasons and logs: `data ~ /^ERROR/i` or `predicate`. */
export function describeMatcher(m: RecordMatcher): string {
  if (m.when !== undefined) return 'predicate';
  return `${m.field ?? 'data'} ~ /${m.match ?? ''}/${m.ignoreCase ? 'i' : ''}`;
}
