/**
 * classify: sets record.class by ordered rules; the first rule that matches wins.
 *
 *   rules:
 *     - { class: critical, match: 'FATAL|panic' }                      # regex on the line
 *     - { class: server-error, when: { field: fields.status, gte: 500 } }
 *     - { fromField: fields.level }                                    # the field's value, if a valid label
 *   # no rule matched: keep the label the writer gave at the mount (keepLabel, the default),
 *   # or set `default` (a class, or null for none)
 */
import { z } from 'zod';
import { defineAgent } from '../agent.js';
import { ClassLabelSchema, isClassLabel } from '../class-label.js';
import { fieldReader, FieldRefSchema } from '../field-predicate.js';
import type { PipelineRecord } from '../record.js';
import { checkMatcher, compileMatcher, DataText, RecordMatcherShape, type RecordTest } from '../record-matcher.js';

const RuleSchema = z
  .strictObject({
    class: ClassLabelSchema.optional().describe('The class to set when `match` or `when` holds'),
    fromField: FieldRefSchema.optional().describe(
      "Sets the class to this field's value when it is present and a valid label (otherwise the next rule is tried); instead of class",
    ),
    ...RecordMatcherShape,
  })
  .superRefine((rule, ctx) => {
    if (rule.fromField !== undefined) {
      for (const key of ['class', 'match', 'when', 'field', 'ignoreCase'] as const) {
        if (rule[key] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [key], message: `a fromField rule takes its class from the field; remove "${key}" or make it a separate rule` });
        }
      }
      return;
    }
    if (rule.class === undefined) {
      ctx.addIssue({ code: 'custom', path: ['class'], message: 'a rule needs "class" (with "match" or "when"), or "fromField"' });
    }
    checkMatcher(rule, ctx, 'a rule with "class"');
  });
export type ClassifyRule = z.infer<typeof RuleSchema>;

export const ClassifyConfigSchema = z
  .strictObject({
    rules: z.array(RuleSchema).min(1).describe('Ordered rules: { class, match [, field, ignoreCase] }, { class, when } or { fromField }; the first that matches sets the class'),
    keepLabel: z
      .boolean()
      .optional()
      .describe('When no rule matches, keep the class the record came with (default: true, or false when `default` is set)'),
    default: ClassLabelSchema.nullable()
      .optional()
      .describe('When no rule matches and the label is not kept: the class to set, or null for none (default null)'),
  })
  .superRefine((c, ctx) => {
    if (c.keepLabel === true && c.default !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['default'], message: 'keepLabel: true keeps the class, so "default" would never apply; remove one of them' });
    }
  });
export type ClassifyConfig = z.infer<typeof ClassifyConfigSchema>;

/** One shape for every rule, so the per-record loop stays monomorphic. */
interface CompiledRule {
  test: RecordTest | undefined;
  cls: string;
  read: ((r: PipelineRecord) => unknown) | undefined;
}

export const classify = defineAgent<ClassifyConfig>({
  type: 'classify',
  description: 'Sets the class of each record by ordered rules (regex, predicate or a field value)',
  configSchema: ClassifyConfigSchema,
  ports: () => ['out'],
  sink: false,
  create: (c) => {
    const text = new DataText();
    const rules: CompiledRule[] = c.rules.map((rule) =>
      rule.fromField !== undefined
        ? { test: undefined, cls: '', read: fieldReader(rule.fromField) }
        : { test: compileMatcher(rule, text), cls: rule.class ?? '', read: undefined },
    );
    const keep = c.keepLabel ?? c.default === undefined;
    const fallback = c.default ?? null;

    return {
      process(batch, out) {
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i]!;
          let cls: string | undefined;
          for (let k = 0; k < rules.length; k++) {
            const rule = rules[k]!;
            if (rule.read !== undefined) {
              const v = rule.read(r);
              const label = typeof v === 'number' ? String(v) : v;
              if (isClassLabel(label)) {
                cls = label;
                break;
              }
            } else if (rule.test!(r)) {
              cls = rule.cls;
              break;
            }
          }
          if (cls !== undefined) r.class = cls;
          else if (!keep) r.class = fallback;
          out.emit('out', r);
        }
        text.release();
      },
    };
  },
});
