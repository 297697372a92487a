/**
 * Stream encryption (issue 5; docs/encryption.md): the data of a record of an encrypted stream is
 * sealed with AES-256-GCM under the stream's key before the record leaves the host, and stays
 * sealed in the journal, in Kafka and (sealed again) in the archive.
 *
 * Sealed form: nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes). The associated data binds the
 * sealed bytes to the record they belong to (provider, stream and record ID), so a sealed value
 * moved to another record, another stream or another provider fails to open. The record map says
 * how its data is sealed: `enc: "A256GCM"` and `kid`, the key's fingerprint (docs/record-format.md).
 *
 * Nonces: each sealer starts at a random 96-bit value and counts up by one per record (the
 * "invocation field" construction of NIST SP 800-38D §8.2). Purely random nonces collide after
 * about 2^32 records under one key with a probability NIST deems too high (2^-32); a stream at
 * 100k records/s reaches that in half a day, and keys are not rotated yet. Counting from a random
 * start, two sealers (gateways, runs) of one key collide only if their ranges overlap, which for
 * any realistic volume is as unlikely as guessing the key.
 */
import crypto from 'node:crypto';
import { LogfsError } from '../core/errors.js';

/** The one algorithm: the value of a record's `enc`. */
export const ENC_A256GCM = 'A256GCM';
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Bytes a sealed value adds to the plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** A new stream key: 32 random bytes, base64 (the form the provisioning store holds). */
export function generateStreamKey(): string {
  return crypto.randomBytes(KEY_BYTES).toString('base64');
}

/**
 * The key bytes of a stream key as the provisioning store holds it (base64 of 32 bytes; the store
 * generates it, control/store.ts); LOGFS_E_CONFIG otherwise.
 */
export function parseStreamKey(text: string, stream = '?'): Buffer {
  const key = Buffer.from(text, 'base64');
  // Buffer.from skips what is not base64; the round trip tells a key from garbage.
  if (key.length !== KEY_BYTES || key.toString('base64') !== text) {
    throw new LogfsError('LOGFS_E_CONFIG', `the key of stream "${stream}" is not base64 of ${KEY_BYTES} bytes (AES-256); set a new one`, { context: { stream } });
  }
  return key;
}

/** Key ID: the first 16 hex digits of SHA-256 of the key bytes. Names the key without revealing it. */
export function keyId(key: Buffer): string {
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * Associated data of a sealed value: what the value belongs to. `id` is the record ID
 * (`instance:seq`, gateway/record-codec.ts recordId) or, for records the pipeline derives, their own
 * ID; `part` separates several sealed values of one record (the archive's data and fields).
 * NUL separates the parts: stream names contain "/", never NUL.
 */
export function recordAad(provider: string, stream: string, id: string, part = 'data'): Buffer {
  return Buffer.from(`logfs-record/1\0${provider}\0${stream}\0${id}\0${part}`, 'utf8');
}

/** Seals (and opens) values under one key; one per key and process (it owns a nonce sequence). */
export class RecordSealer {
  readonly kid: string;
  private readonly key: crypto.KeyObject;
  /** The next nonce; counts up as a 96-bit big-endian number. */
  private readonly nonce = crypto.randomBytes(NONCE_BYTES);

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new LogfsError('LOGFS_E_CONFIG', `a stream key has ${KEY_BYTES} bytes, not ${key.length}`);
    this.kid = keyId(key);
    this.key = crypto.createSecretKey(key);
  }

  /** The sealed form of `plain`, bound to `aad`. */
  seal(plain: Buffer, aad: Buffer): Buffer {
    const nonce = this.nextNonce();
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const out = Buffer.allocUnsafe(NONCE_BYTES + plain.length + TAG_BYTES);
    nonce.copy(out, 0);
    // GCM is a stream mode: update returns exactly as many bytes as it gets, final none.
    const body = cipher.update(plain);
    body.copy(out, NONCE_BYTES);
    cipher.final();
    cipher.getAuthTag().copy(out, NONCE_BYTES + body.length);
    return out;
  }

  /** Opens a value sealed under this key (openSealed). */
  open(sealed: Buffer, aad: Buffer): Buffer {
    return openSealed(this.key, sealed, aad);
  }

  private nextNonce(): Buffer {
    const n = Buffer.from(this.nonce);
    for (let i = NONCE_BYTES - 1; i >= 0; i--) {
      this.nonce[i] = (this.nonce[i]! + 1) & 0xff;
      if (this.nonce[i] !== 0) break;
    }
    return n;
  }
}

/**
 * Opens a sealed value; LOGFS_E_DECRYPT (not retriable) when the key is wrong, the bytes were
 * changed, or the value belongs to another record (the associated data differs).
 */
export function openSealed(key: Buffer | crypto.KeyObject, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < SEAL_OVERHEAD) {
    throw new LogfsError('LOGFS_E_DECRYPT', `sealed value of ${sealed.length} bytes is shorter than nonce and tag (${SEAL_OVERHEAD}); it is damaged`);
  }
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const body = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch (cause) {
    throw new LogfsError('LOGFS_E_DECRYPT', 'sealed data does not open with the stream key: wrong key, damaged bytes, or data moved from another record', { cause });
  }
  return body;
}

/** What the store says about one stream's encryption, with the key ready to use. */
export interface StreamCrypto {
  provider: string;
  stream: string;
  /** Records are to be sealed (the stream's `encrypt` flag). */
  encrypt: boolean;
  /** The stream's key, or null when it has none (an encrypted stream without a key refuses writes). */
  key: { kid: string; bytes: Buffer; sealer: RecordSealer } | null;
  /** Why the key is unusable (not base64 of 32 bytes), when it is. */
  keyError?: string;
}

/** The part of a stream spec this module reads (control/store.ts StreamSpec). */
export interface StreamCryptoSpec {
  name: string;
  provider: string;
  encrypt: boolean;
  key?: string | null;
}

/**
 * The encryption settings of every stream that is encrypted or has a key, from one provisioning
 * state. Plain streams are absent, so the hot path's question "is this stream encrypted?" is one
 * map lookup that misses.
 */
export class StreamKeyring {
  private readonly streams = new Map<string, StreamCrypto>();

  /** With `previous`, its sealers (and their nonce sequences) are kept for keys that did not change. */
  constructor(specs: Iterable<StreamCryptoSpec>, previous?: StreamKeyring) {
    for (const s of specs) {
      if (!s.encrypt && !s.key) continue;
      const c: StreamCrypto = { provider: s.provider, stream: s.name, encrypt: s.encrypt, key: null };
      if (s.key) {
        try {
          const bytes = parseStreamKey(s.key, s.name);
          const kid = keyId(bytes);
          const old = previous?.streams.get(s.name)?.key;
          c.key = { kid, bytes, sealer: old?.kid === kid ? old.sealer : new RecordSealer(bytes) };
        } catch (err) {
          c.keyError = (err as Error).message;
        }
      }
      this.streams.set(s.name, c);
    }
  }

  get size(): number {
    return this.streams.size;
  }

  /** The stream's settings; undefined for a plain stream (and for a stream of another provider). */
  get(provider: string, stream: string): StreamCrypto | undefined {
    const c = this.streams.get(stream);
    return c !== undefined && c.provider === provider ? c : undefined;
  }
}

/** A keyring that follows a store: rebuilt when the store's state object changes, else reused. */
export class StoreKeyring {
  private state: unknown;
  private ring = new StreamKeyring([]);

  constructor(private readonly store: { snapshot(): { streams: Record<string, StreamCryptoSpec> } }) {}

  current(): StreamKeyring {
    const state = this.store.snapshot();
    if (state !== this.state) {
      this.ring = new StreamKeyring(Object.values(state.streams), this.ring);
      this.state = state;
    }
    return this.ring;
  }
}
