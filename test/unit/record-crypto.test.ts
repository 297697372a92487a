/** Stream encryption's primitives: sealing, opening, what a tampered or moved value does, keyrings. */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLogfsError } from '../../core/errors.js';
import { keyId, NONCE_BYTES, openSealed, parseStreamKey, recordAad, RecordSealer, SEAL_OVERHEAD, StoreKeyring, StreamKeyring, TAG_BYTES } from '../../gateway/record-crypto.js';

const KEY = crypto.randomBytes(32);
const aad = recordAad('acme', 'web/access', 'i-1:1800000000000001');
const LINE = Buffer.from('GET /login 200 user=alice');

function decryptError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the value not to open');
}

describe('sealing record data (AES-256-GCM)', () => {
  it('opens what it sealed, and the sealed form is nonce ‖ ciphertext ‖ tag', () => {
    const sealer = new RecordSealer(KEY);
    const sealed = sealer.seal(LINE, aad);
    expect(sealed.length).toBe(LINE.length + SEAL_OVERHEAD);
    expect(sealed.includes(LINE)).toBe(false);
    expect(openSealed(KEY, sealed, aad).equals(LINE)).toBe(true);
    expect(sealer.open(sealed, aad).equals(LINE)).toBe(true);
    // An independent AES-GCM implementation reading the documented layout gets the line back.
    const d = crypto.createDecipheriv('aes-256-gcm', KEY, sealed.subarray(0, NONCE_BYTES));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    expect(Buffer.concat([d.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), d.final()]).equals(LINE)).toBe(true);
  });

  it('seals empty and binary data', () => {
    const sealer = new RecordSealer(KEY);
    for (const data of [Buffer.alloc(0), Buffer.from([0, 0xff, 0x0a, 0x0d]), crypto.randomBytes(70_000)]) {
      expect(openSealed(KEY, sealer.seal(data, aad), aad).equals(data)).toBe(true);
    }
  });

  it('never repeats a nonce: it counts up from a random start, and two sealers start apart', () => {
    const a = new RecordSealer(KEY);
    const b = new RecordSealer(KEY);
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      nonces.add(a.seal(LINE, aad).subarray(0, NONCE_BYTES).toString('hex'));
      nonces.add(b.seal(LINE, aad).subarray(0, NONCE_BYTES).toString('hex'));
    }
    expect(nonces.size).toBe(2000);
    const first = BigInt(`0x${a.seal(LINE, aad).subarray(0, NONCE_BYTES).toString('hex')}`);
    const next = BigInt(`0x${a.seal(LINE, aad).subarray(0, NONCE_BYTES).toString('hex')}`);
    expect((next - first + (1n << 96n)) % (1n << 96n)).toBe(1n);
  });

  it('refuses a wrong key with LOGFS_E_DECRYPT, not retriable', () => {
    const sealed = new RecordSealer(KEY).seal(LINE, aad);
    const err = decryptError(() => openSealed(crypto.randomBytes(32), sealed, aad));
    expect(isLogfsError(err, 'LOGFS_E_DECRYPT')).toBe(true);
    expect((err as { retriable: boolean }).retriable).toBe(false);
    expect((err as Error).message).toMatch(/wrong key, damaged bytes, or data moved from another record/);
  });

  it('refuses a changed nonce, ciphertext or tag, and a value too short to hold nonce and tag', () => {
    const sealed = new RecordSealer(KEY).seal(LINE, aad);
    for (const at of [0, NONCE_BYTES - 1, NONCE_BYTES, NONCE_BYTES + 5, sealed.length - TAG_BYTES, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      expect(isLogfsError(decryptError(() => openSealed(KEY, bad, aad)), 'LOGFS_E_DECRYPT'), `byte ${at}`).toBe(true);
    }
    expect(isLogfsError(decryptError(() => openSealed(KEY, sealed.subarray(0, SEAL_OVERHEAD - 1), aad)), 'LOGFS_E_DECRYPT')).toBe(true);
    expect(isLogfsError(decryptError(() => openSealed(KEY, sealed.subarray(0, sealed.length - 1), aad)), 'LOGFS_E_DECRYPT')).toBe(true);
  });

  it('binds a sealed value to its record: moved to another record, stream or provider it does not open', () => {
    const sealed = new RecordSealer(KEY).seal(LINE, aad);
    for (const other of [
      recordAad('acme', 'web/access', 'i-1:1800000000000002'), // the next record
      recordAad('acme', 'web/access', 'i-2:1800000000000001'), // another instance
      recordAad('acme', 'web/error', 'i-1:1800000000000001'), // another stream with the same key
      recordAad('other', 'web/access', 'i-1:1800000000000001'), // another provider
      recordAad('acme', 'web/access', 'i-1:1800000000000001', 'fields'), // another part of the record
    ]) {
      expect(isLogfsError(decryptError(() => openSealed(KEY, sealed, other)), 'LOGFS_E_DECRYPT')).toBe(true);
    }
    // The separator keeps names apart that would join to the same text.
    expect(recordAad('a', 'b/c', 'x').equals(recordAad('a/b', 'c', 'x'))).toBe(false);
  });
});

describe('stream keys', () => {
  it('names a key by the first 16 hex digits of its SHA-256', () => {
    expect(keyId(KEY)).toBe(crypto.createHash('sha256').update(KEY).digest('hex').slice(0, 16));
    expect(new RecordSealer(KEY).kid).toBe(keyId(KEY));
  });

  it('reads base64 of 32 bytes and rejects anything else, naming the stream', () => {
    expect(parseStreamKey(KEY.toString('base64')).equals(KEY)).toBe(true);
    for (const bad of ['', 'c2hvcnQ=', crypto.randomBytes(16).toString('base64'), `${KEY.toString('base64')}!!`, KEY.toString('hex')]) {
      expect(() => parseStreamKey(bad, 'web')).toThrow(/key of stream "web" is not base64 of 32 bytes/);
    }
  });

  it('holds only encrypted streams (or streams with a key), each for its own provider', () => {
    const ring = new StreamKeyring([
      { name: 'plain', provider: 'acme', encrypt: false, key: null },
      { name: 'secret', provider: 'acme', encrypt: true, key: KEY.toString('base64') },
      { name: 'nokey', provider: 'acme', encrypt: true, key: null },
      { name: 'broken', provider: 'acme', encrypt: true, key: 'garbage' },
      { name: 'was-secret', provider: 'acme', encrypt: false, key: KEY.toString('base64') },
    ]);
    expect(ring.size).toBe(4);
    expect(ring.get('acme', 'plain')).toBeUndefined();
    expect(ring.get('other', 'secret')).toBeUndefined();
    expect(ring.get('acme', 'secret')).toMatchObject({ encrypt: true, key: { kid: keyId(KEY) } });
    expect(ring.get('acme', 'nokey')).toMatchObject({ encrypt: true, key: null });
    expect(ring.get('acme', 'broken')).toMatchObject({ encrypt: true, key: null, keyError: expect.stringMatching(/not base64 of 32 bytes/) });
    // Encryption turned off: the key still opens what was sealed before.
    expect(ring.get('acme', 'was-secret')).toMatchObject({ encrypt: false, key: { kid: keyId(KEY) } });
  });

  it('follows the store: rebuilt when its state changes, keeping the sealer of an unchanged key', () => {
    let state = { streams: { s: { name: 's', provider: 'acme', encrypt: true, key: KEY.toString('base64') } } };
    const keys = new StoreKeyring({ snapshot: () => state });
    const first = keys.current();
    expect(keys.current()).toBe(first);
    state = { streams: { ...state.streams, t: { name: 't', provider: 'acme', encrypt: true, key: crypto.randomBytes(32).toString('base64') } } };
    const second = keys.current();
    expect(second).not.toBe(first);
    expect(second.get('acme', 's')!.key!.sealer).toBe(first.get('acme', 's')!.key!.sealer);
    expect(second.get('acme', 't')!.key).not.toBeNull();
  });
});
