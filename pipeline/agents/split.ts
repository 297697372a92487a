/** split: copies each record to every one of its named outputs. */
import { z } from 'zod';
import { defineAgent } from '../agent.js';
import { cloneRecord } from '../record.js';

export const SplitConfigSchema = z.strictObject({
  outputs: z
    .array(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'output names are lower-case letters, digits, _ and -'))
    .min(2)
    .refine((o) => new Set(o).size === o.length, 'output names must be unique')
    .describe('Names of the output ports; each receives a copy of every record (refer to them as <id>.<name>)'),
});
export type SplitConfig = z.infer<typeof SplitConfigSchema>;

export const split = defineAgent<SplitConfig>({
  type: 'split',
  description: 'Copies each record to several named outputs',
  configSchema: SplitConfigSchema,
  ports: (c) => c.outputs,
  sink: false,
  create: (c) => ({
    process(batch, out) {
      const [first, ...rest] = c.outputs as [string, ...string[]];
      for (const r of batch) {
        // Each branch gets its own copy: agents downstream may mutate fields and flags.
        for (const port of rest) out.emit(port, cloneRecord(r));
        out.emit(first, r);
      }
    },
  }),
});
