/**
 * The provisioning state's schema: what the file store's JSON, its history lines and the Kafka
 * store's messages hold. Fields added after the first release have defaults, so that files written
 * by an older logFS still parse (issue 5 added providers, tokens, stream keys, retention,
 * descriptions and graph providers).
 */
import { z } from 'zod';

/** Base64 of exactly 32 bytes (an AES-256 key): 43 characters and one "=". */
export const AES_256_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export const ProviderSpecSchema = z.strictObject({
  name: z.string().describe('Provider (tenant) name, control/stream-name.ts PROVIDER_NAME'),
  description: z.string().nullable().describe('Free text shown in the console'),
  createdAt: z.string().describe('ISO time of creation'),
});
export type ProviderSpec = z.infer<typeof ProviderSpecSchema>;

export const TokenScopeSchema = z.union([z.literal('admin'), z.strictObject({ provider: z.string().describe('The only provider this token sees') })]);
export type TokenScope = z.infer<typeof TokenScopeSchema>;

export const TokenSpecSchema = z.strictObject({
  id: z.string().describe('Stable identifier, used to delete the token'),
  name: z.string().describe('Who or what uses the token; commits record it as their author'),
  scope: TokenScopeSchema.describe("'admin', or one provider"),
  hash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be the SHA-256 of the secret, in lower-case hex')
    .describe('SHA-256 (hex) of the secret; the secret itself is never stored'),
  createdAt: z.string().describe('ISO time of creation'),
});
export type TokenSpec = z.infer<typeof TokenSpecSchema>;

export const StreamSpecSchema = z.strictObject({
  name: z.string().describe('Stream name; "/" separates namespaces'),
  provider: z.string().describe('Tenant that owns the stream'),
  partitions: z.number().int().min(1).max(1000).describe('Kafka partitions of the stream topic'),
  encrypt: z.boolean().describe('Encrypt records before they leave the host (issue 5)'),
  key: z
    .string()
    .regex(AES_256_KEY, 'must be the base64 of a 32-byte AES-256 key')
    .nullable()
    .default(null)
    .describe('AES-256 key (base64) of an encrypted stream; kept if encryption is turned off, so older records stay readable'),
  rate: z.number().nonnegative().nullable().describe('Estimated volume, records per second'),
  retentionHours: z.number().positive().nullable().default(null).describe('How long Kafka keeps the records; null: the broker default'),
  description: z.string().nullable().default(null).describe('Free text shown in the console'),
  createdAt: z.string().describe('ISO time of creation'),
});
export type StreamSpec = z.infer<typeof StreamSpecSchema>;

/**
 * A processing graph as committed: the definition is checked by pipeline/graph before it is
 * committed and again by every worker that loads it (control does not depend on the pipeline).
 */
export const GraphSpecSchema = z.strictObject({
  name: z.string().describe('Graph name'),
  provider: z.string().default('default').describe('Provider that owns the graph'),
  version: z.number().int().min(1).describe('Bumped on every committed change; archived records carry it'),
  definition: z.record(z.string(), z.unknown()).describe('The graph definition (pipeline/graph/graph-schema.ts)'),
  updatedAt: z.string().describe('ISO time of the last change'),
});
export type GraphSpec = z.infer<typeof GraphSpecSchema>;

export const ProvisioningStateSchema = z.strictObject({
  version: z.number().int().nonnegative().describe('Store version: bumped by every commit'),
  providers: z.record(z.string(), ProviderSpecSchema).default({}),
  tokens: z.record(z.string(), TokenSpecSchema).default({}).describe('By token id'),
  streams: z.record(z.string(), StreamSpecSchema),
  graphs: z.record(z.string(), GraphSpecSchema).default({}),
});
export type ProvisioningState = z.infer<typeof ProvisioningStateSchema>;

export const EMPTY_STATE: ProvisioningState = { version: 0, providers: {}, tokens: {}, streams: {}, graphs: {} };

/** Who made a commit and why; `changes` is derived from the diff when not given (describeChanges). */
export interface CommitMeta {
  author: string;
  message: string;
  changes: string[];
}

export interface CommitInfo extends CommitMeta {
  version: number;
  /** ISO time of the commit. */
  at: string;
}

export const CommitInfoSchema = z.strictObject({
  version: z.number().int().min(1),
  at: z.string(),
  author: z.string(),
  message: z.string(),
  changes: z.array(z.string()),
});
