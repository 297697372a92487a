/** discard: accepts records and drops them on purpose, counting what it dropped. */
import { z } from 'zod';
import { defineAgent } from '../agent.js';

export const DiscardConfigSchema = z.strictObject({
  reason: z.string().max(200).default('').describe('Why these records are dropped; shown in graph show --stats'),
});
export type DiscardConfig = z.infer<typeof DiscardConfigSchema>;

export const discard = defineAgent<DiscardConfig>({
  type: 'discard',
  description: 'Accepts records and drops them, counting how many it dropped',
  configSchema: DiscardConfigSchema,
  ports: () => [],
  sink: true,
  readsOnly: true,
  // The engine counts every node's records in (graph show --stats), which for discard is the drop count.
  create: () => ({ process() {} }),
});
