/** The custom agent's configuration (docs/custom-agents.md). */
import { z } from 'zod';
import { SANDBOX_DEFAULTS } from '../../sandbox/index.js';

/** Lines of the usual shapes (access log, plain text, logfmt, JSON, empty) that every module should survive. */
export const DEFAULT_SAMPLES: readonly string[] = [
  '127.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326',
  '2024-05-01T12:00:00.000Z ERROR payment failed: timeout after 30s order=1234',
  'level=info msg="user logged in" user=alice duration=12ms',
  '{"level":"warn","msg":"disk almost full","used_pct":91}',
  '',
];

/** Source size bound: a module is code, not data. */
export const MAX_SOURCE_BYTES = 1024 * 1024;

export const CustomLimitsSchema = z
  .strictObject({
    cpuMsPerBatch: z
      .number()
      .int()
      .min(10)
      .max(60_000)
      .default(SANDBOX_DEFAULTS.cpuMsPerBatch)
      .describe('Time the module may run per batch (and for loading, and for init), in ms; a batch over it goes to the error port'),
    memoryMb: z
      .number()
      .int()
      .min(16)
      .max(4096)
      .default(SANDBOX_DEFAULTS.memoryMb)
      .describe("Heap limit of the sandbox in MiB; a sandbox over it is restarted and its batch goes to the error port"),
    maxOutputPerRecord: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(SANDBOX_DEFAULTS.maxOutputPerRecord)
      .describe('Most records the module may emit for one input record; more sends that record to the error port'),
  })
  .describe('Resource limits of the sandbox');

export const CustomConfigSchema = z
  .strictObject({
    code: z
      .string()
      .min(1)
      .max(MAX_SOURCE_BYTES)
      .optional()
      .describe('The module inline: JavaScript that sets module.exports = { init?(options), process(record, emit) }'),
    module: z
      .string()
      .min(1)
      .optional()
      .describe('Path of a .js file with the module, read when the graph is activated (relative to the pipeline worker\'s working directory)'),
    options: z.json().default({}).describe('Any JSON value, passed to the module\'s init(options)'),
    samples: z
      .array(z.string().max(64 * 1024))
      .min(1)
      .max(1000)
      .default([...DEFAULT_SAMPLES])
      .describe('Lines the module is tried on before activation; it must handle all of them without breaking a rule'),
    limits: CustomLimitsSchema.prefault({}).describe('Resource limits of the sandbox: CPU time per batch, memory, outputs per record'),
  })
  .superRefine((c, ctx) => {
    if ((c.code === undefined) === (c.module === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'custom needs exactly one of "code" (the module inline) or "module" (path of a .js file)' });
    }
  });
export type CustomConfig = z.infer<typeof CustomConfigSchema>;
export type CustomLimits = z.infer<typeof CustomLimitsSchema>;
