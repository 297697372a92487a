/**
 * filter: routes each record to `pass` or `drop`. A record passes when it matches the pass filter
 * (if one is given) and does not match the drop filter (if one is given). The drop port may stay
 * unconnected; records sent there are then dropped on purpose and counted by the engine.
 */
import { z } from 'zod';
import { defineAgent } from '../agent.js';
import { compileMatcher, DataText, RecordMatcherSchema } from '../record-matcher.js';

export const FilterConfigSchema = z
  .strictObject({
    pass: RecordMatcherSchema.optional().describe(
      'Keep only records that match: { match: <regex>, field, ignoreCase } or { when: <predicate> }',
    ),
    drop: RecordMatcherSchema.optional().describe(
      'Drop records that match, even when they match `pass`: { match: <regex>, field, ignoreCase } or { when: <predicate> }',
    ),
  })
  .superRefine((c, ctx) => {
    if (c.pass === undefined && c.drop === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'filter needs "pass", "drop" or both' });
    }
  });
export type FilterConfig = z.infer<typeof FilterConfigSchema>;

export const filter = defineAgent<FilterConfig>({
  type: 'filter',
  description: 'Passes or drops records by a regex on the line or a field, or by a field predicate',
  configSchema: FilterConfigSchema,
  ports: () => ['pass', 'drop'],
  sink: false,
  create: (c) => {
    const text = new DataText();
    const pass = c.pass === undefined ? undefined : compileMatcher(c.pass, text);
    const drop = c.drop === undefined ? undefined : compileMatcher(c.drop, text);
    return {
      process(batch, out) {
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i]!;
          const ok = (pass === undefined || pass(r)) && (drop === undefined || !drop(r));
          out.emit(ok ? 'pass' : 'drop', r);
        }
        text.release();
      },
    };
  },
});
