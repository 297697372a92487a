/**
 * The record as a custom module sees it (plain JSON, data as a string) and the checks on what the
 * module hands back. A module's output is merged over the record it came from: what it leaves out
 * (class, ts, fields, flags, attrs) stays as it was; what identifies the record (provider, stream,
 * instance, host, seq, source, kind) cannot change.
 */
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { isClassLabel } from '../../class-label.js';
import type { PipelineRecord } from '../../record.js';

/** Plain JSON, built in the module's own realm from the text the host sends. */
export interface SandboxRecord extends Omit<PipelineRecord, 'data' | 'source' | 'kind' | 'v' | 'part'> {
  kind: string;
  source: string;
  /** The line as UTF-8 text; invalid bytes become U+FFFD (dataBase64 then holds the exact bytes). */
  data: string;
  dataBase64?: string;
}

/** JSON text of the record for the sandbox; throws when its fields hold something JSON cannot carry (BigInt). */
export function sandboxRecordJson(r: PipelineRecord): string {
  const utf8 = isUtf8(r.data);
  const plain: SandboxRecord = {
    id: r.id,
    kind: r.kind,
    provider: r.provider,
    stream: r.stream,
    class: r.class,
    instance: r.instance,
    host: r.host,
    seq: r.seq,
    ts: r.ts,
    source: r.source,
    data: r.data.toString('utf8'),
    fields: r.fields,
    flags: r.flags,
  };
  if (!utf8) plain.dataBase64 = r.data.toString('base64');
  if (r.attrs !== undefined) plain.attrs = r.attrs;
  return JSON.stringify(plain);
}

const IDENTITY = ['kind', 'provider', 'stream', 'instance', 'host', 'seq', 'source'] as const;

const JsonObject = z.record(z.string(), z.unknown());

export const SandboxOutputSchema = z
  .strictObject({
    id: z.string().optional(),
    kind: z.string().optional(),
    provider: z.string().optional(),
    stream: z.string().optional(),
    instance: z.string().optional(),
    host: z.string().optional(),
    seq: z.number().optional(),
    source: z.string().optional(),
    class: z
      .string()
      .refine(isClassLabel, 'must be a class label: levels joined by "/", no control characters or "@", at most 200 bytes')
      .nullable()
      .optional(),
    ts: z.number().int().nonnegative().optional(),
    data: z.string().optional(),
    dataBase64: z
      .string()
      .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'must be base64')
      .optional(),
    fields: JsonObject.optional(),
    flags: z.array(z.string().regex(/^[a-z0-9_]{1,64}$/, 'flags are 1 to 64 lower-case letters, digits and _')).optional(),
    attrs: JsonObject.optional(),
  })
  .refine((o) => o.data !== undefined || o.dataBase64 !== undefined, { message: 'a record needs data (a string) or dataBase64', path: ['data'] });

function describeIssue(issue: z.core.$ZodIssue): string {
  let path = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') path = issue.keys.join(', ');
  return `emitted invalid output at path ${path === '' ? '(record)' : path}: ${issue.message}`;
}

/**
 * The pipeline record for one output of the module, or the reason it is invalid. `id` is the
 * input's ID for its first output and `<id>#<n>` for the others.
 */
export function fromSandboxOutput(input: PipelineRecord, raw: unknown, id: string): PipelineRecord | string {
  const parsed = SandboxOutputSchema.safeParse(raw);
  if (!parsed.success) return describeIssue(parsed.error.issues[0] as z.core.$ZodIssue);
  const o = parsed.data;
  if (o.id !== undefined && o.id !== input.id) {
    return `emitted invalid output at path id: must be the input record's id (${JSON.stringify(input.id)}) or absent`;
  }
  for (const key of IDENTITY) {
    if (o[key] !== undefined && o[key] !== input[key]) {
      return `emitted invalid output at path ${key}: cannot be changed (the input record's is ${JSON.stringify(input[key])})`;
    }
  }
  // Every property, in fromLogRecord's order: records keep one hidden class through the graph.
  const r: PipelineRecord = {
    v: input.v,
    provider: input.provider,
    stream: input.stream,
    class: o.class !== undefined ? o.class : input.class,
    instance: input.instance,
    host: input.host,
    seq: input.seq,
    ts: o.ts ?? input.ts,
    source: input.source,
    data: dataOf(input, o.data, o.dataBase64),
    part: input.part,
    attrs: o.attrs ?? (input.attrs === undefined ? undefined : { ...input.attrs }),
    id,
    kind: input.kind,
    fields: o.fields ?? { ...input.fields },
    flags: o.flags ?? [...input.flags],
  };
  return r;
}

/**
 * dataBase64 carries the exact bytes of a line that is not valid UTF-8. It counts when the module
 * left `data` as it got it (or dropped it); a module that rewrote `data` meant the new text.
 */
function dataOf(input: PipelineRecord, data: string | undefined, dataBase64: string | undefined): Buffer {
  if (dataBase64 !== undefined && (data === undefined || data === input.data.toString('utf8'))) return Buffer.from(dataBase64, 'base64');
  return Buffer.from(data as string, 'utf8');
}
