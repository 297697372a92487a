/**
 * Records of encrypted streams at rest (docs/encryption.md): the archive and the relays keep a
 * record's data, and the fields agents extracted from it, sealed with the stream's key. A line
 * then carries `"enc":"A256GCM"`, `"kid"`, `data` as the base64 of the sealed bytes and, when the
 * record had fields, `sealedFields` (the sealed JSON of the fields) with `fields` left empty.
 * Everything else (provider, stream, class, instance, host, seq, ts, attrs, flags) stays clear:
 * the archive is browsed and de-duplicated by it.
 */
import { isUtf8 } from 'node:buffer';
import { errorMessage, LogfsError } from '../../core/errors.js';
import { ENC_A256GCM, recordAad, type StreamCrypto, type StreamKeyring } from '../../gateway/record-crypto.js';
import type { PipelineRecord } from '../record.js';
import { DECRYPT_FAILED_FLAG } from '../record-keys.js';
import type { ArchivedRecord } from './archive-line.js';

/** A record's sealed parts, as a line or a relayed message carries them. */
export interface SealedParts {
  kid: string;
  data: Buffer;
  /** The sealed JSON of the record's fields; undefined when it has none. */
  fields: Buffer | undefined;
}

/** The sealed parts of `r` for storing or relaying; undefined when its stream is not encrypted. */
export function sealForRest(r: PipelineRecord, c: StreamCrypto | undefined): SealedParts | undefined {
  if (c === undefined || !c.encrypt) return undefined;
  if (c.key === null) {
    // The source could not open it either: its data is the sealed bytes from the wire, never clear text.
    if (r.flags.includes(DECRYPT_FAILED_FLAG)) return undefined;
    throw new LogfsError('LOGFS_E_NO_KEY', `stream "${r.stream}" of provider "${r.provider}" is encrypted but ${c.keyError ?? 'has no key'}; its records are not stored in clear (the sink retries until the stream has a key)`, {
      retriable: true,
      context: { provider: r.provider, stream: r.stream },
    });
  }
  const sealer = c.key.sealer;
  let fields: Buffer | undefined;
  if (hasKeys(r.fields)) {
    let json: string;
    try {
      json = JSON.stringify(r.fields);
    } catch (err) {
      json = JSON.stringify({ _archiveError: errorMessage(err) });
    }
    fields = sealer.seal(Buffer.from(json, 'utf8'), recordAad(r.provider, r.stream, r.id, 'fields'));
  }
  return { kid: sealer.kid, data: sealer.seal(r.data, recordAad(r.provider, r.stream, r.id, 'data')), fields };
}

/**
 * Opens an archived record in place when `keys` holds its stream's key: `data` and `fields` become
 * what the record had before it was stored, and `enc`, `kid`, `sealedFields` go. Otherwise the
 * record stays sealed and `sealed` says why it could not be opened.
 */
export function openArchived(r: ArchivedRecord, keys: StreamKeyring | undefined): void {
  if (r.enc === undefined) return;
  const c = keys?.get(r.provider, r.stream);
  if (r.enc !== ENC_A256GCM) r.sealed = `sealed with "${r.enc}", which this version cannot open`;
  else if (!c?.key) r.sealed = `sealed with key ${r.kid}; the key of stream "${r.stream}" is not available here`;
  else if (c.key.kid !== r.kid) r.sealed = `sealed with key ${r.kid}, but the stream's key is ${c.key.kid}`;
  else {
    try {
      const data = c.key.sealer.open(Buffer.from(r.data, 'base64'), recordAad(r.provider, r.stream, r.id, 'data'));
      const fields = r.sealedFields === undefined ? r.fields : (JSON.parse(c.key.sealer.open(Buffer.from(r.sealedFields, 'base64'), recordAad(r.provider, r.stream, r.id, 'fields')).toString('utf8')) as Record<string, unknown>);
      if (isUtf8(data)) {
        r.data = data.toString('utf8');
        delete r.dataEncoding;
      } else r.data = data.toString('base64');
      r.fields = fields;
      delete r.enc;
      delete r.kid;
      delete r.sealedFields;
    } catch (err) {
      r.sealed = errorMessage(err);
    }
  }
}

/** What a reader shows instead of the data of a record it could not open. */
export function sealedMarker(r: Pick<ArchivedRecord, 'kid' | 'sealed'>): string {
  return `[encrypted: ${r.sealed ?? `key ${r.kid}`}]`;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}
