/**
 * logfsd configuration: a YAML or JSON file (optional) merged under command-line flags, parsed once
 * with a strict schema. Every field and its default is listed in docs/configuration.md.
 */
import fsp from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { LogfsError } from '../core/errors.js';
import { configError, GatewayConfigSchema } from '../gateway/config.js';
import { InputsConfigSchema } from '../inputs/config.js';
import { MOUNT_DEFAULTS } from './fuse-fs.js';

const MountSchema = z.strictObject({
  path: z.string().default(MOUNT_DEFAULTS.mountpoint).describe('Mount point; created when missing'),
  autoProvision: z.boolean().default(MOUNT_DEFAULTS.autoProvision).describe('Provision unknown streams on first create'),
  maxRecordBytes: z.number().int().min(64).max(64 * 1024 * 1024).default(MOUNT_DEFAULTS.maxRecordBytes)
    .describe('Longest record; longer lines are cut into parts'),
  blksize: z.number().int().min(512).max(16 * 1024 * 1024).default(MOUNT_DEFAULTS.blksize)
    .describe('st_blksize reported for stream files (the buffer size of programs that size by it)'),
  bigWrites: z.boolean().default(MOUNT_DEFAULTS.bigWrites).describe('FUSE big_writes, 128 KiB write requests'),
  directIo: z.boolean().default(MOUNT_DEFAULTS.directIo).describe('FUSE direct_io, no page cache'),
  allowOther: z.boolean().default(MOUNT_DEFAULTS.allowOther).describe('Let every user write to the mount'),
  fastWrites: z.boolean().default(MOUNT_DEFAULTS.fastWrites)
    .describe('Answer writes in C and frame their bytes in batches (needs the native build; off with gateway.onFull refuse)'),
});

export const DaemonConfigSchema = z.strictObject({
  dataDir: z.string().default(process.env.LOGFS_DATA ?? '/var/lib/logfs')
    .describe('State directory: provisioning store, journal, runtime info'),
  mount: MountSchema.prefault({}),
  gateway: GatewayConfigSchema.prefault({}),
  inputs: InputsConfigSchema.prefault({}).describe('Socket inputs: syslog listeners and the plain socket input (off unless configured)'),
  gatewaySocket: z.string().optional()
    .describe('Connect to a separate per-host gateway on this unix socket instead of running one inside'),
  gatewayCredential: z.string().optional().describe('Credential presented to a separate gateway'),
  store: z.enum(['file', 'kafka']).default('file')
    .describe('Provisioning store: the data dir\'s file (one host), or the compacted topic <topicPrefix>.control on the Kafka brokers (cluster mode: every host and worker watches it)'),
  pipeline: z.enum(['auto', 'on', 'off']).default('auto')
    .describe('Run a pipeline worker in this process: auto = in embedded mode only (with Kafka, run logfsctl pipeline run)'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
    // prefault: a bad LOGFS_LOG_LEVEL is reported like any other invalid setting.
    .prefault((process.env.LOGFS_LOG_LEVEL ?? 'info') as 'info').describe('Log level (or LOGFS_LOG_LEVEL)'),
});

/** Over this, a record plus its fields and batch framing may not fit the Kafka limits below. */
const RECORD_OVERHEAD_BYTES = 64 * 1024;

/** Combinations the fields cannot check one by one. */
function crossCheck(c: z.infer<typeof DaemonConfigSchema>, ctx: z.RefinementCtx): void {
  // The longest record any producer makes: the mount's, a socket line, or a syslog message (whose
  // split parts repeat the first part's header attrs, so up to about twice its size).
  const longest = Math.max(
    c.mount.maxRecordBytes,
    c.inputs.socket?.maxLineBytes ?? 0,
    c.inputs.syslog.maxMessageBytes * 2,
  );
  const need = longest + RECORD_OVERHEAD_BYTES;
  if (c.store === 'kafka' && c.gateway.kafka.brokers.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['store'], message: 'the kafka store needs Kafka brokers (gateway.kafka.brokers or --kafka)' });
  }
  if (c.gateway.kafka.brokers.length > 0) {
    for (const key of ['batchMaxBytes', 'topicMaxMessageBytes'] as const) {
      if (c.gateway.kafka[key] < need) {
        ctx.addIssue({
          code: 'custom',
          path: ['gateway', 'kafka', key],
          message: `must be at least the longest record (mount.maxRecordBytes, inputs.socket.maxLineBytes, 2 × inputs.syslog.maxMessageBytes) + ${RECORD_OVERHEAD_BYTES} (${need}) so that it fits one Kafka message`,
        });
      }
    }
  }
}

export type DaemonConfig = z.infer<typeof DaemonConfigSchema>;
export type DaemonConfigInput = z.input<typeof DaemonConfigSchema>;

export async function readConfigFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (cause) {
    throw new LogfsError('LOGFS_E_CONFIG', `cannot read config file ${file}`, { cause });
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (cause) {
    throw new LogfsError('LOGFS_E_CONFIG', `config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(cause as Error).message}`, { cause });
  }
}

/** Deep-merges plain objects; arrays and scalars in `over` replace those in `base`. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) if (v !== undefined) out[k] = mergeConfig(base[k], v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseDaemonConfig(input: unknown): DaemonConfig {
  const parsed = DaemonConfigSchema.superRefine(crossCheck).safeParse(input ?? {});
  if (!parsed.success) throw configError('logfsd', parsed.error);
  return parsed.data;
}
