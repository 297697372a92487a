/**
 * validate: checks each record by a cheap format regex, required fields and/or a predicate. Records
 * that pass every configured check go to `valid`; the others go to `invalid`, flagged `invalid` with
 * fields._invalid_reason naming the first check that failed.
 *
 * Checks run cheapest first (format, required, predicate) and stop at the first failure.
 */
import { z } from 'zod';
import { defineAgent } from '../agent.js';
import { compilePredicate, fieldReader, FieldRefSchema, PredicateSchema, RegexSchema } from '../field-predicate.js';
import { FLAGS, type PipelineRecord } from '../record.js';
import { compileMatcher, DataText, describeMatcher, RecordMatcherShape } from '../record-matcher.js';

const FormatCheckSchema = z.strictObject({
  match: RegexSchema.describe('Regular expression the text must contain a match of (anchor it with ^ and $ to match the whole text)'),
  field: RecordMatcherShape.field,
  ignoreCase: RecordMatcherShape.ignoreCase,
});

export const ValidateConfigSchema = z
  .strictObject({
    format: FormatCheckSchema.optional().describe(
      'Format check: { match: <regex>, field: <field, default data>, ignoreCase } that the record must match, e.g. { match: "^\\\\d{4}-\\\\d{2}-\\\\d{2}T" }',
    ),
    required: z
      .array(FieldRefSchema)
      .min(1)
      .optional()
      .describe('Fields that must be present and non-empty (not null, "", [] or {}), e.g. [fields.status, fields.path]'),
    when: PredicateSchema.optional().describe('Predicate the record must satisfy, e.g. { field: fields.status, gte: 100, lt: 600 }'),
  })
  .superRefine((c, ctx) => {
    if (c.format === undefined && c.required === undefined && c.when === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'validate needs at least one check: format, required or when' });
    }
  });
export type ValidateConfig = z.infer<typeof ValidateConfigSchema>;

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && !Buffer.isBuffer(v) && Object.keys(v).length === 0;
}

export const validate = defineAgent<ValidateConfig>({
  type: 'validate',
  description: 'Checks records by format regex, required fields and/or a predicate; sends failures to invalid',
  configSchema: ValidateConfigSchema,
  ports: () => ['valid', 'invalid'],
  sink: false,
  create: (c) => {
    const text = new DataText();
    const format = c.format === undefined ? undefined : compileMatcher(c.format, text);
    const formatReason = c.format === undefined ? '' : `format: ${describeMatcher(c.format)} does not hold`;
    const required = (c.required ?? []).map((ref) => ({ read: fieldReader(ref), reason: `required: ${ref} is missing or empty` }));
    const when = c.when === undefined ? undefined : compilePredicate(c.when);

    /** The reason the record is invalid, or undefined when it is valid. */
    const check = (r: PipelineRecord): string | undefined => {
      if (format !== undefined && !format(r)) return formatReason;
      for (let k = 0; k < required.length; k++) {
        const req = required[k]!;
        if (isEmpty(req.read(r))) return req.reason;
      }
      if (when !== undefined && !when(r)) return 'when: the predicate does not hold';
      return undefined;
    };

    return {
      process(batch, out) {
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i]!;
          const reason = check(r);
          if (reason === undefined) {
            out.emit('valid', r);
          } else {
            if (!r.flags.includes(FLAGS.invalid)) r.flags.push(FLAGS.invalid);
            r.fields._invalid_reason = reason;
            out.emit('invalid', r);
          }
        }
        text.release();
      },
    };
  },
});
