/**
 * Records of encrypted streams in the pipeline (docs/encryption.md): the source opens a record's
 * sealed data with the stream's key before any agent sees it, so agents work on the line as it
 * was written. A record that does not open (no key here, another key, damaged or moved bytes) is
 * not dropped: it goes on with its data still sealed, flagged `decrypt_failed`, the reason in
 * `fields._decrypt_error`, like an undecodable message (pipeline/source.ts).
 */
import { errorMessage } from '../core/errors.js';
import type { LogRecord } from '../gateway/record-codec.js';
import { ENC_A256GCM, recordAad, type StreamKeyring } from '../gateway/record-crypto.js';
import { fromLogRecord, type PipelineRecord } from './record.js';

export const DECRYPT_FAILED_FLAG = 'decrypt_failed';

/** The keyring of the provisioning state now (StoreKeyring.current of the worker's store). */
export type KeyLookup = () => StreamKeyring;

/** The pipeline record of a wire record whose `enc` is set: opened, or flagged with its data sealed. */
export function openedRecord(r: LogRecord, keys: StreamKeyring | undefined): PipelineRecord {
  const problem = openInPlace(r, keys);
  const p = fromLogRecord(r);
  if (problem !== undefined) {
    p.flags.push(DECRYPT_FAILED_FLAG);
    p.fields._decrypt_error = problem;
  }
  return p;
}

/**
 * Replaces the sealed `r.data` by the line as written (and removes `enc` and `kid`); the reason it
 * cannot be opened otherwise, leaving `r` as it is.
 */
export function openInPlace(r: LogRecord, keys: StreamKeyring | undefined): string | undefined {
  if (r.enc !== ENC_A256GCM) return `data is sealed with "${r.enc}", which this version cannot open`;
  const c = keys?.get(r.provider, r.stream);
  if (!c?.key) return `data is sealed with key ${r.kid}, but stream "${r.stream}" of provider "${r.provider}" has no key here${c?.keyError ? ` (${c.keyError})` : ''}`;
  if (c.key.kid !== r.kid) return `data is sealed with key ${r.kid}, but the key of stream "${r.stream}" is ${c.key.kid}`;
  try {
    r.data = c.key.sealer.open(r.data, recordAad(r.provider, r.stream, `${r.instance}:${r.seq}`));
    delete r.enc;
    delete r.kid;
    return undefined;
  } catch (err) {
    return errorMessage(err);
  }
}
