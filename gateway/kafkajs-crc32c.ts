/**
 * kafkajs 2.2.4 computes every produced record batch's CRC-32C one byte at a time
 * (src/protocol/recordBatch/crc32C/crc32C.js): about a tenth of the producer thread's CPU when
 * shipping syslog messages (bench/syslog.ts profile). This module installs the same checksum
 * computed eight bytes at a time (slicing-by-8, the table method of Intel's and zlib's CRC code).
 * Like kafkajs-grouping.ts it must be imported before kafkajs is loaded.
 */
import { createRequire } from 'node:module';
import { nativeGateway } from './native.js';

const require = createRequire(import.meta.url);

const TARGET = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';
const USER = 'kafkajs/src/protocol/recordBatch/v0/index.js';

/** Castagnoli polynomial, reflected. */
const POLY = 0x82f63b78;

const TABLES: Int32Array[] = (() => {
  const t0 = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c;
  }
  const tables = [t0];
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1]!;
    const t = new Int32Array(256);
    for (let n = 0; n < 256; n++) t[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
    tables.push(t);
  }
  return tables;
})();

/** CRC-32C of `buf` in JavaScript, as an unsigned 32-bit number (what kafkajs' crc32C/index.js returns). */
export function crc32cJs(buf: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = -1;
  let i = 0;
  const end8 = buf.length - (buf.length % 8);
  for (; i < end8; i += 8) {
    crc ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    crc =
      t7[crc & 0xff]! ^
      t6[(crc >>> 8) & 0xff]! ^
      t5[(crc >>> 16) & 0xff]! ^
      t4[crc >>> 24]! ^
      t3[buf[i + 4]!]! ^
      t2[buf[i + 5]!]! ^
      t1[buf[i + 6]!]! ^
      t0[buf[i + 7]!]!;
  }
  for (; i < buf.length; i++) crc = t0[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** CRC-32C of `buf`, unsigned: native when built (a fifth of the producer thread's CPU in JavaScript), else crc32cJs. */
export const crc32c: (buf: Uint8Array) => number = nativeGateway?.crc32c ?? crc32cJs;

/** True when the fast checksum is in place for the kafkajs that will be loaded. */
export function installFastCrc32c(): boolean {
  const target = require.resolve(TARGET);
  if (require.cache[require.resolve(USER)]) return require.cache[target]?.exports === crc32c;
  require(target);
  const mod = require.cache[target];
  if (!mod) return false;
  mod.exports = crc32c;
  return true;
}

export const fastCrc32cInstalled = installFastCrc32c();
