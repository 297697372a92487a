/*
 * The per-record work of the gateway's shipping path, built by scripts/build-native.sh into
 * dist/native/logfs-gateway.node; without the build the JavaScript callers use their own versions
 * (gateway/native.ts), which give the same bytes.
 *
 *   crc32c(bytes: Uint8Array): number
 *     CRC-32C (Castagnoli) of the Kafka record batches the gateway produces (gateway/kafka-wire/
 *     record-batch.ts), unsigned as kafkajs' crc32C returns it. In JavaScript, eight bytes at a
 *     time, it was a fifth of the producer thread's CPU; here it is the SSE 4.2 crc32 instruction
 *     where the CPU has it, the same slicing-by-8 table method otherwise.
 *
 *   crc32Entries(bytes: Uint8Array, start: number, end: number): void
 *     Fills in the checksums of the journal entries framed in bytes[start, end)
 *     (u32 BE length | u32 BE crc32(payload) | payload, gateway/journal-segment.ts): CRC-32 as
 *     zlib computes it, for a whole write at once. One zlib.crc32() call per entry was a tenth of
 *     logfsd's main thread, mostly the cost of the call itself. With the CPU's carry-less multiply
 *     (PCLMULQDQ) the bytes of an entry from 64 on are folded 16 at a time (crc32_fold), at three
 *     to four times the speed of slicing-by-8, which does the rest and all of it without.
 *
 *   encodeRecordBatch(source, starts, lengths, keyIndex, keys, timestamp, producerId, producerEpoch, baseSequence[, out[, compression]]): Buffer | number
 *     One Kafka RecordBatch v2 (gateway/kafka-wire/record-batch.ts, which documents the layout) of
 *     records whose values lie in `source` at starts[i] (Int32Array), lengths[i] bytes, with key
 *     keys[keyIndex[i]] (an array of Uint8Arrays), CRC-32C included. In JavaScript each record cost
 *     a Buffer of its value and a copy call, and most of the producer thread's garbage collection.
 *     With `out` (a Uint8Array the caller reuses) the batch is written there and its size returned;
 *     when it does not fit, nothing is written and minus its size is returned. With compression 3
 *     the records are one LZ4 frame (Kafka's LZ4 codec, below), written 64 KiB at a time as they
 *     are encoded; `out` must then have room for the most they can take (minus that otherwise).
 *
 *   scanEntries, groupEntries: a run of journal entries read back from a segment, for the Kafka
 *     producer thread (described where they are defined).
 *
 *   lz4Compress(src[, out]), lz4DecompressBound(src), lz4Decompress(src, dst): Kafka's LZ4 codec
 *     (gateway/lz4.ts), when built with liblz4.
 *
 *   scanLines(src: Uint8Array, start: number, end: number, maxLine: number): [number, number]
 *     The complete lines at the start of src[start, end), up to the first one longer than maxLine
 *     bytes (its newline not counted) or the unterminated tail: how many, and where they end (after
 *     the last one's newline).
 *
 *   startWriteback(fd: number, offset: number, length: number): Promise<void>
 *     Starts the kernel writing the dirty pages of fd's [offset, offset + length) to disk without
 *     waiting for it (Linux sync_file_range with SYNC_FILE_RANGE_WRITE), on libuv's thread pool,
 *     as that call can block while the device's queue is full. The journal calls it behind its
 *     writes, so that an fsync() finds little left to write (gateway/journal.ts). Rejects with the
 *     errno's message and `code` (e.g. EBADF). Only on Linux.
 *
 *   frameLines(src, start, end, dst, at, header, prefix, seq, ts): number
 *     Frames each line of src[start, end) (every one ends with its newline: a scanLines run) as the
 *     gateway's journal entry of a plain line, into dst from `at`; returns where the entries end.
 *     Entry: u32 BE length | 4 bytes for the checksum (zero; the journal fills it in) | header
 *     (journal-entry.ts: format, topic, key) | f64 BE seq | the record: a map of 10 fields, the 7 of
 *     `prefix` (RecordTemplate's constant fields), then seq, ts and data as RecordTemplate writes
 *     them. Line k gets seq + k. The same bytes as Gateway.ingest's JavaScript; per line it cost a
 *     Buffer, a framing object and a record writer there, the most of logfsd's main thread.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#ifdef LOGFS_LZ4
#include <lz4.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define HAVE_X86 1
#endif

/* Slicing-by-8 tables: CRC-32C (Castagnoli) and CRC-32 (IEEE, zlib's), both reflected. */
static uint32_t table[8][256];
static uint32_t ieee[8][256];
static int have_hw;

static void init_tables(uint32_t t[8][256], uint32_t poly) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    t[0][n] = c;
  }
  for (uint32_t n = 0; n < 256; n++) {
    for (int k = 1; k < 8; k++) t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xff];
  }
}

static void init_table(void) {
  init_tables(table, 0x82f63b78u);
  init_tables(ieee, 0xedb88320u);
}

static uint32_t slice8(uint32_t t[8][256], uint32_t crc, const uint8_t *p, size_t n) {
  while (n >= 8) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + 4, 4);
    lo ^= crc; /* little-endian hosts only (x86, arm64 as Linux runs them) */
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#ifdef HAVE_X86
#include <wmmintrin.h>
static int have_pclmul;

/*
 * CRC-32 (zlib's, the journal's entry checksum) of p[0, n), n a multiple of 16 and at least 64, from
 * the running state `crc`; returns the running state. Carry-less multiplication folds 64 bytes at a
 * time into four 128-bit remainders, then those into one, then 16 bytes at a time, and Barrett
 * reduction gives the 32-bit remainder: "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ Instruction" (Gopal, Ozturk et al., Intel, 2009), with its constants for the
 * bit-reflected polynomial 0x04C11DB7. Three to four times slicing-by-8 on entries of 200 bytes.
 */
__attribute__((target("sse4.1,pclmul"))) static uint32_t crc32_fold(const uint8_t *p, size_t n, uint32_t crc) {
  /* x^(4*128+64) mod P, x^(4*128) mod P; x^(128+64), x^128; x^96 (bit-reflected, shifted); P', mu */
  const __m128i fold4 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i fold1 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i fold96 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i barrett = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  const __m128i low32s = _mm_set_epi32(0, -1, 0, -1);
  __m128i r[4];
  for (int i = 0; i < 4; i++) r[i] = _mm_loadu_si128((const __m128i *)(p + 16 * i));
  r[0] = _mm_xor_si128(r[0], _mm_cvtsi32_si128((int)crc));
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    for (int i = 0; i < 4; i++) {
      __m128i lo = _mm_clmulepi64_si128(r[i], fold4, 0x00), hi = _mm_clmulepi64_si128(r[i], fold4, 0x11);
      r[i] = _mm_xor_si128(_mm_xor_si128(lo, hi), _mm_loadu_si128((const __m128i *)(p + 16 * i)));
    }
  }
  __m128i x = r[0];
  for (int i = 1; i < 4; i++) {
    __m128i lo = _mm_clmulepi64_si128(x, fold1, 0x00), hi = _mm_clmulepi64_si128(x, fold1, 0x11);
    x = _mm_xor_si128(_mm_xor_si128(lo, hi), r[i]);
  }
  for (; n >= 16; p += 16, n -= 16) {
    __m128i lo = _mm_clmulepi64_si128(x, fold1, 0x00), hi = _mm_clmulepi64_si128(x, fold1, 0x11);
    x = _mm_xor_si128(_mm_xor_si128(lo, hi), _mm_loadu_si128((const __m128i *)p));
  }
  /* 128 → 96 bits: the low half times x^(128+64)... then 96 → 64 bits. */
  x = _mm_xor_si128(_mm_srli_si128(x, 8), _mm_clmulepi64_si128(x, fold1, 0x10));
  x = _mm_xor_si128(_mm_srli_si128(x, 4), _mm_clmulepi64_si128(_mm_and_si128(x, low32s), fold96, 0x00));
  /* Barrett reduction to 32 bits. */
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x, low32s), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32s), barrett, 0x00);
  return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x, t), 1);
}
#endif

/* CRC-32 (zlib's) of p[0, n), finished. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
  uint32_t crc = 0xffffffffu;
#ifdef HAVE_X86
  if (have_pclmul && n >= 64) {
    size_t m = n & ~(size_t)15;
    crc = crc32_fold(p, m, crc);
    p += m;
    n -= m;
  }
#endif
  return slice8(ieee, crc, p, n) ^ 0xffffffffu;
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t n) {
  return slice8(table, crc, p, n);
}

#ifdef HAVE_X86
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n) {
  while (n > 0 && ((uintptr_t)p & 7) != 0) {
    crc = _mm_crc32_u8(crc, *p++);
    n--;
  }
#ifdef __x86_64__
  uint64_t c64 = crc;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  crc = (uint32_t)c64;
#endif
  while (n--) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}
#endif

/* CRC-32C of p[0, n), finished (as kafkajs' crc32C returns it). */
static uint32_t crc32c_of(const uint8_t *p, size_t n) {
#ifdef HAVE_X86
  return (have_hw ? crc32c_hw(0xffffffffu, p, n) : crc32c_sw(0xffffffffu, p, n)) ^ 0xffffffffu;
#else
  return crc32c_sw(0xffffffffu, p, n) ^ 0xffffffffu;
#endif
}

/* 1 when v is a typed array of type `want`, with its data and length. */
static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

static napi_value crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !typed(env, argv[0], napi_uint8_array, &data, &length)) {
    napi_throw_type_error(env, NULL, "crc32c: expected a Uint8Array");
    return NULL;
  }
  napi_create_uint32(env, crc32c_of(data, length), &result);
  return result;
}

static uint32_t read_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * The arguments (bytes: Uint8Array, start, end) of crc32Entries, with start and end
 * checked to lie within the bytes; 0 (an exception pending) when they are not.
 */
static int entries_args(napi_env env, napi_callback_info info, const char *type_error, const char *range_error, uint8_t **bytes, uint64_t *start, uint64_t *end) {
  size_t argc = 3;
  napi_value argv[3];
  size_t length = 0;
  void *data = NULL;
  int64_t s = 0, e = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !typed(env, argv[0], napi_uint8_array, &data, &length) ||
      napi_get_value_int64(env, argv[1], &s) != napi_ok || napi_get_value_int64(env, argv[2], &e) != napi_ok) {
    napi_throw_type_error(env, NULL, type_error);
    return 0;
  }
  if (s < 0 || e < s || (uint64_t)e > length) {
    napi_throw_range_error(env, NULL, range_error);
    return 0;
  }
  *bytes = data;
  *start = (uint64_t)s;
  *end = (uint64_t)e;
  return 1;
}

static napi_value crc32_entries(napi_env env, napi_callback_info info) {
  uint8_t *b;
  uint64_t pos, end;
  if (!entries_args(env, info, "crc32Entries: expected (Uint8Array, start, end)", "crc32Entries: start and end must lie within the bytes", &b, &pos, &end)) return NULL;
  while (pos < end) {
    if (end - pos < 8) {
      napi_throw_range_error(env, NULL, "crc32Entries: an entry header runs past the end");
      return NULL;
    }
    uint32_t len = read_be32(b + pos);
    if (end - pos - 8 < len) {
      napi_throw_range_error(env, NULL, "crc32Entries: an entry runs past the end");
      return NULL;
    }
    uint32_t crc = crc32_ieee(b + pos + 8, len);
    b[pos + 4] = (uint8_t)(crc >> 24);
    b[pos + 5] = (uint8_t)(crc >> 16);
    b[pos + 6] = (uint8_t)(crc >> 8);
    b[pos + 7] = (uint8_t)crc;
    pos += 8 + (uint64_t)len;
  }
  return NULL;
}

static uint32_t zigzag32(int32_t n) {
  return ((uint32_t)n << 1) ^ (uint32_t)(n >> 31);
}

static size_t uvarint_size(uint32_t u) {
  return u < 0x80 ? 1 : u < 0x4000 ? 2 : u < 0x200000 ? 3 : u < 0x10000000 ? 4 : 5;
}

static uint8_t *write_uvarint(uint8_t *o, uint32_t u) {
  while (u >= 0x80) {
    *o++ = (uint8_t)((u & 0x7f) | 0x80);
    u >>= 7;
  }
  *o++ = (uint8_t)u;
  return o;
}

static uint8_t *be16(uint8_t *o, uint32_t v) {
  o[0] = (uint8_t)(v >> 8);
  o[1] = (uint8_t)v;
  return o + 2;
}

static uint8_t *be32(uint8_t *o, uint32_t v) {
  o[0] = (uint8_t)(v >> 24);
  o[1] = (uint8_t)(v >> 16);
  o[2] = (uint8_t)(v >> 8);
  o[3] = (uint8_t)v;
  return o + 4;
}

static uint8_t *be64(uint8_t *o, uint64_t v) {
  o = be32(o, (uint32_t)(v >> 32));
  return be32(o, (uint32_t)v);
}

static size_t body_size(int32_t i, size_t klen, size_t vlen) {
  return 1 + 1 + uvarint_size(zigzag32(i)) + uvarint_size(zigzag32((int32_t)klen)) + klen + uvarint_size(zigzag32((int32_t)vlen)) + vlen + 1;
}

#define MAX_KEYS 4096
#define BATCH_HEADER_BYTES 61

/*
 * Kafka's LZ4 codec (compression type 3): one LZ4 frame (https://github.com/lz4/lz4/blob/dev/doc/
 * lz4_Frame_format.md) with independent 64 KiB blocks and no checksums but the descriptor's, as
 * Kafka's own producer writes it (KafkaLZ4BlockOutputStream) and as its consumer requires: it
 * decompresses each block on its own, so linked blocks are out. Built when liblz4's headers are
 * there (Debian's liblz4-dev); without them, `lz4` is false and the functions throw.
 */
#define LZ4_BLOCK (64 * 1024)

/* The most bytes the frame of `n` bytes can take: header, every block stored as is, end mark. */
static size_t lz4_frame_bound(size_t n) {
  size_t blocks = n / LZ4_BLOCK + 1;
  return 7 + n + n / 255 + blocks * (4 + 16) + 4;
}

#ifdef LOGFS_LZ4

static uint32_t le32_read(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint8_t *le32(uint8_t *o, uint32_t v) {
  o[0] = (uint8_t)v;
  o[1] = (uint8_t)(v >> 8);
  o[2] = (uint8_t)(v >> 16);
  o[3] = (uint8_t)(v >> 24);
  return o + 4;
}

/* XXH32 of fewer than 16 bytes: the frame descriptor's checksum byte is its second byte. */
static uint32_t xxh32_short(const uint8_t *p, size_t len, uint32_t seed) {
  const uint32_t P1 = 2654435761u, P2 = 2246822519u, P3 = 3266489917u, P4 = 668265263u, P5 = 374761393u;
  uint32_t h = seed + P5 + (uint32_t)len;
  for (; len >= 4; len -= 4, p += 4) {
    h += le32_read(p) * P3;
    h = ((h << 17) | (h >> 15)) * P4;
  }
  for (; len > 0; len--, p++) {
    h += *p * P5;
    h = ((h << 11) | (h >> 21)) * P1;
  }
  h ^= h >> 15;
  h *= P2;
  h ^= h >> 13;
  h *= P3;
  h ^= h >> 16;
  return h;
}

/* Each thread's compression state and the block being filled (the producer runs in a worker). */
static __thread void *lz4_state;
static __thread uint8_t *lz4_stage;

static int lz4_thread_init(void) {
  if (lz4_state == NULL) lz4_state = malloc((size_t)LZ4_sizeofState());
  if (lz4_stage == NULL) lz4_stage = malloc(LZ4_BLOCK);
  return lz4_state != NULL && lz4_stage != NULL;
}

/* A frame being written to `o`, which has room for lz4_frame_bound of what is put. */
typedef struct {
  uint8_t *o;
  size_t fill;
} lz4_writer;

static void lz4_begin(lz4_writer *w, uint8_t *o) {
  uint8_t descriptor[2] = {0x60, 0x40}; /* FLG: version 01, independent blocks; BD: 64 KiB blocks */
  o = le32(o, 0x184D2204u);
  *o++ = descriptor[0];
  *o++ = descriptor[1];
  *o++ = (uint8_t)(xxh32_short(descriptor, 2, 0) >> 8);
  w->o = o;
  w->fill = 0;
}

static void lz4_block(lz4_writer *w, const uint8_t *src, size_t n) {
  int c = LZ4_compress_fast_extState(lz4_state, (const char *)src, (char *)w->o + 4, (int)n, LZ4_COMPRESSBOUND((int)n), 1);
  if (c > 0 && (size_t)c < n) {
    w->o = le32(w->o, (uint32_t)c) + c;
  } else { /* stored as is: the high bit of the size says so */
    w->o = le32(w->o, (uint32_t)n | 0x80000000u);
    memcpy(w->o, src, n);
    w->o += n;
  }
}

static void lz4_put(lz4_writer *w, const uint8_t *p, size_t n) {
  if (w->fill == 0) /* whole blocks straight from the source */
    for (; n >= LZ4_BLOCK; n -= LZ4_BLOCK, p += LZ4_BLOCK) lz4_block(w, p, LZ4_BLOCK);
  while (n > 0) {
    size_t k = LZ4_BLOCK - w->fill < n ? LZ4_BLOCK - w->fill : n;
    memcpy(lz4_stage + w->fill, p, k);
    w->fill += k;
    p += k;
    n -= k;
    if (w->fill == LZ4_BLOCK) {
      lz4_block(w, lz4_stage, LZ4_BLOCK);
      w->fill = 0;
    }
  }
}

/* Ends the frame; returns where it ends. */
static uint8_t *lz4_end(lz4_writer *w) {
  if (w->fill > 0) lz4_block(w, lz4_stage, w->fill);
  w->fill = 0;
  return le32(w->o, 0);
}
#endif

/* The records of a batch, after its header, as they go on the wire uncompressed. */
typedef struct {
  size_t n;
  const uint8_t *src;
  const int32_t *starts, *lens, *kidx;
  const uint8_t *const *key_data;
  const size_t *key_len;
} batch_records;

/* Writes the records uncompressed from o; returns where they end. */
static uint8_t *write_records(const batch_records *r, uint8_t *o) {
  for (size_t i = 0; i < r->n; i++) {
    size_t klen = r->key_len[r->kidx[i]], vlen = (size_t)r->lens[i];
    size_t body = body_size((int32_t)i, klen, vlen);
    o = write_uvarint(o, zigzag32((int32_t)body));
    *o++ = 0; /* attributes */
    *o++ = 0; /* timestampDelta */
    o = write_uvarint(o, zigzag32((int32_t)i));
    o = write_uvarint(o, zigzag32((int32_t)klen));
    memcpy(o, r->key_data[r->kidx[i]], klen);
    o += klen;
    o = write_uvarint(o, zigzag32((int32_t)vlen));
    memcpy(o, r->src + r->starts[i], vlen);
    o += vlen;
    *o++ = 0; /* no headers */
  }
  return o;
}

#ifdef LOGFS_LZ4
/* write_records through an LZ4 frame: the same bytes, compressed. */
static uint8_t *write_records_lz4(const batch_records *r, uint8_t *o) {
  lz4_writer w;
  lz4_begin(&w, o);
  /* A record's fields before its value, with the previous record's last byte (no headers) in front. */
  uint8_t head[1 + 17 + 256 + 5];
  size_t h = 0;
  for (size_t i = 0; i < r->n; i++) {
    size_t klen = r->key_len[r->kidx[i]], vlen = (size_t)r->lens[i];
    size_t body = body_size((int32_t)i, klen, vlen);
    uint8_t *p = head + h;
    p = write_uvarint(p, zigzag32((int32_t)body));
    *p++ = 0;
    *p++ = 0;
    p = write_uvarint(p, zigzag32((int32_t)i));
    p = write_uvarint(p, zigzag32((int32_t)klen));
    if (klen <= 256) {
      memcpy(p, r->key_data[r->kidx[i]], klen);
      p += klen;
    } else {
      lz4_put(&w, head, (size_t)(p - head));
      lz4_put(&w, r->key_data[r->kidx[i]], klen);
      p = head;
    }
    p = write_uvarint(p, zigzag32((int32_t)vlen));
    lz4_put(&w, head, (size_t)(p - head));
    lz4_put(&w, r->src + r->starts[i], vlen);
    head[0] = 0; /* no headers */
    h = 1;
  }
  lz4_put(&w, head, h);
  return lz4_end(&w);
}
#endif

/*
 * Writes the batch into b (room for batch_bound of it) with `compression` (0 or 3, LZ4); returns its
 * size.
 */
static size_t write_batch(uint8_t *b, const batch_records *r, int compression, double timestamp, double producer_id, int32_t epoch, int32_t base_sequence) {
  uint8_t *o = b;
  o += 8 + 4;                                       /* baseOffset, batchLength: below */
  o = be32(o, 0xffffffffu);                         /* partitionLeaderEpoch: set by the broker */
  *o++ = 2;                                         /* magic */
  o += 4;                                           /* crc, below */
  o = be16(o, (uint32_t)compression);               /* attributes: compression, create time */
  o = be32(o, (uint32_t)(r->n - 1));                /* lastOffsetDelta */
  o = be64(o, (uint64_t)(int64_t)timestamp);        /* baseTimestamp */
  o = be64(o, (uint64_t)(int64_t)timestamp);        /* maxTimestamp */
  o = be64(o, (uint64_t)(int64_t)producer_id);
  o = be16(o, (uint32_t)epoch);
  o = be32(o, (uint32_t)base_sequence);
  o = be32(o, (uint32_t)r->n);
#ifdef LOGFS_LZ4
  if (compression == 3) o = write_records_lz4(r, o);
  else
#endif
  o = write_records(r, o);
  size_t size = (size_t)(o - b);
  be64(b, 0);                                       /* baseOffset: the broker assigns offsets */
  be32(b + 8, (uint32_t)(size - 12));               /* batchLength: bytes after this field */
  be32(b + 17, crc32c_of(b + 21, size - 21));
  return size;
}

static napi_value encode_record_batch(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  void *source = NULL, *starts_v = NULL, *lens_v = NULL, *kidx_v = NULL;
  size_t source_len = 0, n = 0, n2 = 0, n3 = 0;
  uint32_t nkeys = 0;
  bool is_array = false;
  double timestamp = 0, producer_id = 0;
  int32_t epoch = 0, base_sequence = 0, compression = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 9 || !typed(env, argv[0], napi_uint8_array, &source, &source_len) ||
      !typed(env, argv[1], napi_int32_array, &starts_v, &n) || !typed(env, argv[2], napi_int32_array, &lens_v, &n2) ||
      !typed(env, argv[3], napi_int32_array, &kidx_v, &n3) || napi_is_array(env, argv[4], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[4], &nkeys) != napi_ok || napi_get_value_double(env, argv[5], &timestamp) != napi_ok ||
      napi_get_value_double(env, argv[6], &producer_id) != napi_ok || napi_get_value_int32(env, argv[7], &epoch) != napi_ok ||
      napi_get_value_int32(env, argv[8], &base_sequence) != napi_ok || (argc >= 11 && napi_get_value_int32(env, argv[10], &compression) != napi_ok)) {
    napi_throw_type_error(env, NULL, "encodeRecordBatch: expected (Uint8Array, Int32Array, Int32Array, Int32Array, Uint8Array[], number, number, number, number[, Uint8Array | undefined, compression])");
    return NULL;
  }
  if (n2 != n || n3 != n || n == 0 || n > 0x7fffffff || nkeys == 0 || nkeys > MAX_KEYS) {
    napi_throw_range_error(env, NULL, "encodeRecordBatch: starts, lengths and keyIndex must have one entry per record (at least one), and there must be 1 to 4096 keys");
    return NULL;
  }
#ifdef LOGFS_LZ4
  if (compression == 3 && !lz4_thread_init()) {
    napi_throw_error(env, NULL, "encodeRecordBatch: out of memory for LZ4's state");
    return NULL;
  }
  if (compression != 0 && compression != 3) {
#else
  if (compression != 0) {
#endif
    napi_throw_range_error(env, NULL, "encodeRecordBatch: compression must be 0 (none) or 3 (LZ4, when built with liblz4)");
    return NULL;
  }
  const uint8_t *key_data[MAX_KEYS];
  size_t key_len[MAX_KEYS];
  for (uint32_t k = 0; k < nkeys; k++) {
    napi_value kv;
    void *d = NULL;
    if (napi_get_element(env, argv[4], k, &kv) != napi_ok || !typed(env, kv, napi_uint8_array, &d, &key_len[k])) {
      napi_throw_type_error(env, NULL, "encodeRecordBatch: every key must be a Uint8Array");
      return NULL;
    }
    key_data[k] = d;
  }
  batch_records r = {n, source, starts_v, lens_v, kidx_v, key_data, key_len};
  size_t records = 0;
  for (size_t i = 0; i < n; i++) {
    if (r.starts[i] < 0 || r.lens[i] < 0 || (size_t)r.starts[i] + (size_t)r.lens[i] > source_len || r.kidx[i] < 0 || (uint32_t)r.kidx[i] >= nkeys) {
      napi_throw_range_error(env, NULL, "encodeRecordBatch: a record lies outside the source bytes or names no key");
      return NULL;
    }
    size_t body = body_size((int32_t)i, key_len[r.kidx[i]], (size_t)r.lens[i]);
    records += uvarint_size(zigzag32((int32_t)body)) + body;
  }
  /* Uncompressed, the batch's exact size; with LZ4, the most it can take. */
  size_t bound = BATCH_HEADER_BYTES + (compression == 3 ? lz4_frame_bound(records) : records);
  if (bound > 0x7fffffff) {
    napi_throw_range_error(env, NULL, "encodeRecordBatch: the batch would exceed 2 GiB");
    return NULL;
  }
  napi_value result;
  void *out_v = NULL;
  size_t out_len = 0;
  if (argc >= 10 && typed(env, argv[9], napi_uint8_array, &out_v, &out_len)) {
    if (out_len < bound) {
      napi_create_int64(env, -(int64_t)bound, &result);
      return result;
    }
    napi_create_int64(env, (int64_t)write_batch(out_v, &r, compression, timestamp, producer_id, epoch, base_sequence), &result);
  } else if (compression == 0) {
    if (napi_create_buffer(env, bound, &out_v, &result) != napi_ok) return NULL;
    write_batch(out_v, &r, compression, timestamp, producer_id, epoch, base_sequence);
  } else {
    uint8_t *tmp = malloc(bound);
    if (tmp == NULL) {
      napi_throw_error(env, NULL, "encodeRecordBatch: out of memory");
      return NULL;
    }
    size_t size = write_batch(tmp, &r, compression, timestamp, producer_id, epoch, base_sequence);
    napi_status st = napi_create_buffer_copy(env, size, tmp, NULL, &result);
    free(tmp);
    if (st != napi_ok) return NULL;
  }
  return result;
}

#ifdef LOGFS_LZ4
/* lz4Compress(src[, out]): Kafka's LZ4 frame of src; into out when it has room for the bound. */
static napi_value lz4_compress(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  void *src = NULL, *out = NULL;
  size_t n = 0, out_len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !typed(env, argv[0], napi_uint8_array, &src, &n)) {
    napi_throw_type_error(env, NULL, "lz4Compress: expected (Uint8Array[, Uint8Array])");
    return NULL;
  }
  if (!lz4_thread_init()) {
    napi_throw_error(env, NULL, "lz4Compress: out of memory for LZ4's state");
    return NULL;
  }
  size_t bound = lz4_frame_bound(n);
  lz4_writer w;
  if (argc >= 2 && typed(env, argv[1], napi_uint8_array, &out, &out_len)) {
    if (out_len < bound) {
      napi_create_int64(env, -(int64_t)bound, &result);
      return result;
    }
    lz4_begin(&w, out);
    lz4_put(&w, src, n);
    napi_create_int64(env, (int64_t)(lz4_end(&w) - (uint8_t *)out), &result);
    return result;
  }
  uint8_t *tmp = malloc(bound);
  if (tmp == NULL) {
    napi_throw_error(env, NULL, "lz4Compress: out of memory");
    return NULL;
  }
  lz4_begin(&w, tmp);
  lz4_put(&w, src, n);
  napi_status st = napi_create_buffer_copy(env, (size_t)(lz4_end(&w) - tmp), tmp, NULL, &result);
  free(tmp);
  return st == napi_ok ? result : NULL;
}

/*
 * Walks the LZ4 frames in src (skippable frames skipped) and, with dst, decompresses them into it.
 * Returns the bytes written (without dst: the most the frames can decompress to), or -1 with
 * *error set. Block and content checksums are skipped unchecked, and so is the descriptor's (old
 * Kafka clients computed it wrongly): Kafka's batch CRC covers these bytes.
 */
static int64_t lz4_frames(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, const char **error) {
  size_t pos = 0, out = 0;
  while (pos < len) {
    if (len - pos < 4) return *error = "lz4: truncated frame header", -1;
    uint32_t magic = le32_read(src + pos);
    if ((magic & 0xfffffff0u) == 0x184D2A50u) {
      if (len - pos < 8 || len - pos - 8 < le32_read(src + pos + 4)) return *error = "lz4: truncated skippable frame", -1;
      pos += 8 + (size_t)le32_read(src + pos + 4);
      continue;
    }
    if (magic != 0x184D2204u) return *error = "lz4: not an LZ4 frame (bad magic number)", -1;
    if (len - pos < 7) return *error = "lz4: truncated frame header", -1;
    uint8_t flg = src[pos + 4], bd = src[pos + 5];
    if ((flg >> 6) != 1) return *error = "lz4: unsupported frame version", -1;
    if (flg & 0x01) return *error = "lz4: frames with a dictionary ID are not supported", -1;
    unsigned bsid = (bd >> 4) & 7;
    if (bsid < 4) return *error = "lz4: invalid block maximum size", -1;
    size_t block_max = (size_t)1 << (2 * bsid + 8);
    int independent = (flg & 0x20) != 0, block_sums = (flg & 0x10) != 0;
    pos += 7 + ((flg & 0x08) ? 8 : 0);
    if (pos > len) return *error = "lz4: truncated frame header", -1;
    size_t frame_start = out;
    for (;;) {
      if (len - pos < 4) return *error = "lz4: truncated block", -1;
      uint32_t bs = le32_read(src + pos);
      pos += 4;
      if (bs == 0) break;
      size_t size = bs & 0x7fffffffu;
      if (size > block_max || len - pos < size + (block_sums ? 4 : 0)) return *error = "lz4: block larger than the frame allows or truncated", -1;
      if (dst == NULL) {
        out += (bs & 0x80000000u) ? size : block_max;
      } else if (bs & 0x80000000u) {
        if (cap - out < size) return *error = "lz4: output too small", -1;
        memcpy(dst + out, src + pos, size);
        out += size;
      } else {
        int room = cap - out > block_max ? (int)block_max : (int)(cap - out);
        int d = independent ? LZ4_decompress_safe((const char *)src + pos, (char *)dst + out, (int)size, room)
                            : LZ4_decompress_safe_usingDict((const char *)src + pos, (char *)dst + out, (int)size, room, (const char *)dst + frame_start, (int)(out - frame_start));
        if (d < 0) return *error = "lz4: corrupt compressed block", -1;
        out += (size_t)d;
      }
      pos += size + (block_sums ? 4 : 0);
    }
    if (flg & 0x04) {
      if (len - pos < 4) return *error = "lz4: truncated content checksum", -1;
      pos += 4;
    }
  }
  return (int64_t)out;
}

/* lz4DecompressBound(src): the most bytes the frames in src decompress to. */
static napi_value lz4_decompress_bound(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  void *src = NULL;
  size_t n = 0;
  const char *error = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !typed(env, argv[0], napi_uint8_array, &src, &n)) {
    napi_throw_type_error(env, NULL, "lz4DecompressBound: expected a Uint8Array");
    return NULL;
  }
  int64_t bound = lz4_frames(src, n, NULL, 0, &error);
  if (bound < 0) {
    napi_throw_error(env, "LOGFS_E_LZ4", error);
    return NULL;
  }
  napi_create_int64(env, bound, &result);
  return result;
}

/* lz4Decompress(src, dst): decompresses the frames in src into dst; returns the bytes written. */
static napi_value lz4_decompress(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  void *src = NULL, *dst = NULL;
  size_t n = 0, cap = 0;
  const char *error = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !typed(env, argv[0], napi_uint8_array, &src, &n) || !typed(env, argv[1], napi_uint8_array, &dst, &cap)) {
    napi_throw_type_error(env, NULL, "lz4Decompress: expected (Uint8Array, Uint8Array)");
    return NULL;
  }
  int64_t written = lz4_frames(src, n, dst, cap, &error);
  if (written < 0) {
    napi_throw_error(env, "LOGFS_E_LZ4", error);
    return NULL;
  }
  napi_create_int64(env, written, &result);
  return result;
}
#endif

/*
 * scanEntries(bytes, got, limit, skip, maxEntries, maxBytes, starts, lengths, result): the framing
 * walk of readSegmentRun (journal-segment.ts, which documents it) over bytes[0, got), read from a
 * segment whose written end is `limit` bytes on: skips `skip` entries, then puts where each wanted
 * entry's payload starts and its length into starts and lengths (Int32Array), up to maxEntries and
 * maxBytes of payload (the first always), checking each wanted entry's CRC-32 as it goes. result
 * (Int32Array of 5): [count, position after the last entry walked, bytes needed when an entry runs
 * past `got` (0 when none), 1 when an entry runs past `limit`, the position of the first wanted entry
 * whose checksum does not match (the walk stops there) or -1]. In JavaScript each entry cost two
 * array pushes, and the arrays a copy each. Checking in the same walk reads the bytes from memory
 * once: the walk alone, which mostly waits for each entry's length to come from memory, took
 * longer than the checksums in a second pass over what it had brought into cache.
 */
static napi_value scan_entries(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  void *bytes_v = NULL, *starts_v = NULL, *lens_v = NULL, *result_v = NULL;
  size_t bytes_len = 0, cap = 0, cap2 = 0, result_len = 0;
  int64_t got = 0, limit = 0, skip = 0, max_entries = 0, max_bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 9 || !typed(env, argv[0], napi_uint8_array, &bytes_v, &bytes_len) ||
      napi_get_value_int64(env, argv[1], &got) != napi_ok || napi_get_value_int64(env, argv[2], &limit) != napi_ok ||
      napi_get_value_int64(env, argv[3], &skip) != napi_ok || napi_get_value_int64(env, argv[4], &max_entries) != napi_ok ||
      napi_get_value_int64(env, argv[5], &max_bytes) != napi_ok || !typed(env, argv[6], napi_int32_array, &starts_v, &cap) ||
      !typed(env, argv[7], napi_int32_array, &lens_v, &cap2) || !typed(env, argv[8], napi_int32_array, &result_v, &result_len)) {
    napi_throw_type_error(env, NULL, "scanEntries: expected (Uint8Array, got, limit, skip, maxEntries, maxBytes, Int32Array, Int32Array, Int32Array)");
    return NULL;
  }
  if (got < 0 || (uint64_t)got > bytes_len || got > 0x7fffffff || result_len < 5 || cap2 < cap) {
    napi_throw_range_error(env, NULL, "scanEntries: got must lie within the bytes (below 2 GiB), result must hold 5 and lengths as many as starts");
    return NULL;
  }
  const uint8_t *b = bytes_v;
  int32_t *starts = starts_v, *lens = lens_v, *result = result_v;
  int64_t pos = 0, skipped = 0, payload = 0, need = 0, count = 0, past = 0, bad = -1;
  if (max_entries > (int64_t)cap) max_entries = (int64_t)cap;
  while (pos < got && count < max_entries) {
    if (pos + 8 > got) {
      need = pos + 8;
      break;
    }
    int64_t len = read_be32(b + pos);
    if (pos + 8 + len > limit) {
      past = 1;
      break;
    }
    if (pos + 8 + len > got) {
      need = pos + 8 + len;
      break;
    }
    if (skipped < skip) {
      skipped++;
    } else {
      if (count > 0 && payload + len > max_bytes) break;
      if (crc32_ieee(b + pos + 8, (size_t)len) != read_be32(b + pos + 4)) {
        bad = pos;
        break;
      }
      starts[count] = (int32_t)(pos + 8);
      lens[count] = (int32_t)len;
      count++;
      payload += len;
    }
    pos += 8 + len;
  }
  result[0] = (int32_t)count;
  result[1] = (int32_t)pos;
  result[2] = need > 0x7fffffff ? 0x7fffffff : (int32_t)need;
  result[3] = (int32_t)past;
  result[4] = (int32_t)bad;
  return NULL;
}

#define MAX_GROUPS 4096

/*
 * groupEntries(bytes, starts, lengths, count, group, headers): number
 * The gateway's journal entries (gateway/journal-entry.ts: u8 format 1 | u8 topic length | topic |
 * u8 key length | key | f64 seq | record) at bytes[starts[i], starts[i] + lengths[i]), i < count:
 * moves starts[i] and lengths[i] onto the record (the Kafka message's value) and puts in group[i]
 * the index of the entry's header (format, topic and key) among the distinct ones of the run, or -1
 * when the entry is not one of the format. headers (Int32Array) gets each distinct header's
 * [start, length] in bytes. Returns how many there are, or -1 when more than headers.length / 2
 * (or 4096): then starts and lengths are left as they were and the rest is not to be used. In JavaScript this was a comparison of each entry's header
 * with the last one's and three array pushes, the producer thread's largest cost.
 */
static napi_value group_entries(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  void *bytes_v = NULL, *starts_v = NULL, *lens_v = NULL, *group_v = NULL, *headers_v = NULL;
  size_t bytes_len = 0, n1 = 0, n2 = 0, n3 = 0, nh = 0;
  int64_t count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || !typed(env, argv[0], napi_uint8_array, &bytes_v, &bytes_len) ||
      !typed(env, argv[1], napi_int32_array, &starts_v, &n1) || !typed(env, argv[2], napi_int32_array, &lens_v, &n2) ||
      napi_get_value_int64(env, argv[3], &count) != napi_ok || !typed(env, argv[4], napi_int32_array, &group_v, &n3) ||
      !typed(env, argv[5], napi_int32_array, &headers_v, &nh)) {
    napi_throw_type_error(env, NULL, "groupEntries: expected (Uint8Array, Int32Array, Int32Array, count, Int32Array, Int32Array)");
    return NULL;
  }
  if (count < 0 || (size_t)count > n1 || (size_t)count > n2 || (size_t)count > n3) {
    napi_throw_range_error(env, NULL, "groupEntries: count exceeds the arrays");
    return NULL;
  }
  const uint8_t *b = bytes_v;
  int32_t *starts = starts_v, *lens = lens_v, *group = group_v, *headers = headers_v;
  size_t max_groups = nh / 2 < MAX_GROUPS ? nh / 2 : MAX_GROUPS;
  size_t groups = 0;
  int64_t last = -1;
  for (int64_t i = 0; i < count; i++) {
    int64_t s = starts[i], l = lens[i];
    if (s < 0 || l < 0 || (uint64_t)(s + l) > bytes_len) {
      napi_throw_range_error(env, NULL, "groupEntries: an entry lies outside the bytes");
      return NULL;
    }
    const uint8_t *e = b + s;
    /* A batch's entries are megabytes, out of cache by now: without asking for the header of the
     * entry 16 on, each entry waited for its own (30 ns an entry against 15, in a run of 9 MB). */
    if (i + 16 < count && starts[i + 16] >= 0 && (uint64_t)starts[i + 16] < bytes_len) __builtin_prefetch(b + starts[i + 16]);
    int64_t hl = 0;
    if (l >= 11 && e[0] == 1 && 3 + (int64_t)e[1] <= l) hl = 3 + (int64_t)e[1] + e[2 + e[1]];
    if (hl == 0 || hl + 8 > l) {
      group[i] = -1;
      continue;
    }
    int64_t g = -1;
    if (last >= 0 && headers[2 * last + 1] == hl && memcmp(b + headers[2 * last], e, (size_t)hl) == 0) {
      g = last;
    } else {
      for (size_t k = 0; k < groups; k++) {
        if (headers[2 * k + 1] == hl && memcmp(b + headers[2 * k], e, (size_t)hl) == 0) {
          g = (int64_t)k;
          break;
        }
      }
      if (g < 0) {
        if (groups == max_groups) {
          napi_value r;
          napi_create_int32(env, -1, &r);
          return r;
        }
        headers[2 * groups] = (int32_t)s;
        headers[2 * groups + 1] = (int32_t)hl;
        g = (int64_t)groups++;
      }
    }
    group[i] = (int32_t)g;
    last = g;
  }
  /* Only now, so that a run with too many headers is left as it was. */
  for (int64_t i = 0; i < count; i++) {
    if (group[i] < 0) continue;
    int32_t hl = headers[2 * group[i] + 1];
    starts[i] += hl + 8;
    lens[i] -= hl + 8;
  }
  napi_value r;
  napi_create_int32(env, (int32_t)groups, &r);
  return r;
}

static napi_value scan_lines(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  void *data = NULL;
  size_t length = 0;
  int64_t s = 0, e = 0, max_line = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !typed(env, argv[0], napi_uint8_array, &data, &length) ||
      napi_get_value_int64(env, argv[1], &s) != napi_ok || napi_get_value_int64(env, argv[2], &e) != napi_ok ||
      napi_get_value_int64(env, argv[3], &max_line) != napi_ok) {
    napi_throw_type_error(env, NULL, "scanLines: expected (Uint8Array, start, end, maxLine)");
    return NULL;
  }
  if (s < 0 || e < s || (uint64_t)e > length || max_line < 0) {
    napi_throw_range_error(env, NULL, "scanLines: start and end must lie within the bytes, maxLine must not be negative");
    return NULL;
  }
  const uint8_t *b = data;
  size_t pos = (size_t)s, stop = (size_t)e;
  uint32_t lines = 0;
  while (pos < stop) {
    const uint8_t *nl = memchr(b + pos, '\n', stop - pos);
    if (nl == NULL || (size_t)(nl - (b + pos)) > (uint64_t)max_line) break;
    pos = (size_t)(nl - b) + 1;
    lines++;
  }
  napi_value result, v;
  napi_create_array_with_length(env, 2, &result);
  napi_create_uint32(env, lines, &v);
  napi_set_element(env, result, 0, v);
  napi_create_int64(env, (int64_t)pos, &v);
  napi_set_element(env, result, 1, v);
  return result;
}

/* A MessagePack unsigned integer as RecordTemplate writes it (the smallest form). */
static uint8_t *mp_uint(uint8_t *o, uint64_t n) {
  if (n < 0x80) {
    *o++ = (uint8_t)n;
  } else if (n < 0x100) {
    *o++ = 0xcc;
    *o++ = (uint8_t)n;
  } else if (n < 0x10000) {
    *o++ = 0xcd;
    o = be16(o, (uint32_t)n);
  } else if (n < 0x100000000ull) {
    *o++ = 0xce;
    o = be32(o, (uint32_t)n);
  } else {
    *o++ = 0xcf;
    o = be64(o, n);
  }
  return o;
}

/* An unsigned integer below 2^53 from a JavaScript number, or 0 when it is not one. */
static int safe_uint(napi_env env, napi_value v, uint64_t *out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 9007199254740991.0) || d != (double)(uint64_t)d) return 0;
  *out = (uint64_t)d;
  return 1;
}

static napi_value frame_lines(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  void *src_v = NULL, *dst_v = NULL, *hdr_v = NULL, *pre_v = NULL, *ends_v = NULL;
  size_t src_len = 0, dst_len = 0, hlen = 0, plen = 0, ends_len = 0;
  int64_t s = 0, e = 0, at = 0;
  uint64_t seq = 0, ts = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 9 || !typed(env, argv[0], napi_uint8_array, &src_v, &src_len) ||
      napi_get_value_int64(env, argv[1], &s) != napi_ok || napi_get_value_int64(env, argv[2], &e) != napi_ok ||
      !typed(env, argv[3], napi_uint8_array, &dst_v, &dst_len) || napi_get_value_int64(env, argv[4], &at) != napi_ok ||
      !typed(env, argv[5], napi_uint8_array, &hdr_v, &hlen) || !typed(env, argv[6], napi_uint8_array, &pre_v, &plen) ||
      !safe_uint(env, argv[7], &seq) || !safe_uint(env, argv[8], &ts)) {
    napi_throw_type_error(env, NULL, "frameLines: expected (Uint8Array, start, end, Uint8Array, at, Uint8Array, Uint8Array, seq, ts[, Int32Array]) with seq and ts integers from 0 to 2^53 - 1");
    return NULL;
  }
  napi_valuetype ends_type = napi_undefined;
  if (argc >= 10 && napi_typeof(env, argv[9], &ends_type) == napi_ok && ends_type != napi_undefined && !typed(env, argv[9], napi_int32_array, &ends_v, &ends_len)) {
    napi_throw_type_error(env, NULL, "frameLines: the ends, when given, must be an Int32Array");
    return NULL;
  }
  if (s < 0 || e < s || (uint64_t)e > src_len || at < 0 || (uint64_t)at > dst_len) {
    napi_throw_range_error(env, NULL, "frameLines: start, end and at must lie within their bytes");
    return NULL;
  }
  if (dst_len > 0x7fffffffu) {
    napi_throw_range_error(env, NULL, "frameLines: the destination must be shorter than 2 GiB");
    return NULL;
  }
  const uint8_t *src = src_v, *hdr = hdr_v, *pre = pre_v;
  uint8_t *dst = dst_v;
  int32_t *ends = ends_v;
  size_t pos = (size_t)s, stop = (size_t)e, o = (size_t)at, k = 0;
  while (pos < stop) {
    const uint8_t *nl = memchr(src + pos, '\n', stop - pos);
    if (nl == NULL) {
      napi_throw_range_error(env, NULL, "frameLines: the last line has no newline");
      return NULL;
    }
    size_t dlen = (size_t)(nl - (src + pos));
    /* header | seq | map, prefix, seq (4 + 9), ts (3 + 9), data (5 + 5 + dlen) */
    size_t entry = hlen + 8 + 1 + plen + 13 + 12 + 10 + dlen;
    if (dlen > 0x7fffffffu || dst_len - o < 8 + entry) {
      napi_throw_range_error(env, NULL, "frameLines: the destination has no room for the next entry");
      return NULL;
    }
    if (ends != NULL && k == ends_len) {
      napi_throw_range_error(env, NULL, "frameLines: the ends have no room for the next entry");
      return NULL;
    }
    uint8_t *start = dst + o, *w = start + 8;
    memcpy(w, hdr, hlen);
    w += hlen;
    double dseq = (double)seq;
    uint64_t bits;
    memcpy(&bits, &dseq, 8);
    w = be64(w, bits);
    *w++ = 0x8a;
    memcpy(w, pre, plen);
    w += plen;
    *w++ = 0xa3, *w++ = 's', *w++ = 'e', *w++ = 'q';
    w = mp_uint(w, seq);
    *w++ = 0xa2, *w++ = 't', *w++ = 's';
    w = mp_uint(w, ts);
    *w++ = 0xa4, *w++ = 'd', *w++ = 'a', *w++ = 't', *w++ = 'a';
    if (dlen < 0x100) {
      *w++ = 0xc4;
      *w++ = (uint8_t)dlen;
    } else if (dlen < 0x10000) {
      *w++ = 0xc5;
      w = be16(w, (uint32_t)dlen);
    } else {
      *w++ = 0xc6;
      w = be32(w, (uint32_t)dlen);
    }
    memcpy(w, src + pos, dlen);
    w += dlen;
    uint32_t len = (uint32_t)(w - start - 8);
    be32(start, len);
    /* The checksum now, while the entry is in the cache (appendFramed with `checksummed`). */
    be32(start + 4, crc32_ieee(start + 8, len));
    o = (size_t)(w - dst);
    if (ends != NULL) ends[k] = (int32_t)o;
    k++;
    pos += dlen + 1;
    seq++;
  }
  napi_value result;
  napi_create_int64(env, (int64_t)o, &result);
  return result;
}

/*
 * Gives the free pages of the C heap's arenas back to the system (glibc's malloc_trim); returns
 * whether any were. glibc keeps what is freed in the middle of an arena for later, so memory that
 * a burst of work once allocated stays resident (gateway.ts calls this on a timer).
 */
static napi_value trim_heap(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) != 0, &result);
#else
  napi_get_boolean(env, false, &result);
#endif
  return result;
}

/* Tells tests which implementation runs. */
static napi_value hardware(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, have_hw, &result);
  return result;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void) {
  init_table();
  /*
   * Buffers of 128 KiB and more get their own mapping, returned to the system when freed. glibc
   * otherwise raises that threshold to the largest buffer freed so far (megabytes here: journal
   * reads, Kafka batches), after which such buffers come from its heaps, which keep the memory.
   */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#ifdef HAVE_X86
  __builtin_cpu_init();
  have_hw = __builtin_cpu_supports("sse4.2");
  have_pclmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

#ifdef __linux__
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int64_t offset;
  int64_t length;
  int err;
} writeback_t;

static void writeback_execute(napi_env env, void *data) {
  (void)env;
  writeback_t *w = data;
  w->err = sync_file_range(w->fd, w->offset, w->length, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
}

static void writeback_complete(napi_env env, napi_status status, void *data) {
  writeback_t *w = data;
  napi_value result;
  if (status == napi_ok && w->err == 0) {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, w->deferred, result);
  } else {
    int e = status == napi_ok ? w->err : ECANCELED;
    char text[160];
    snprintf(text, sizeof text, "sync_file_range: %s", strerror(e));
    const char *name = e == EBADF ? "EBADF" : e == EIO ? "EIO" : e == ENOSPC ? "ENOSPC" : e == EINVAL ? "EINVAL" : e == ENOMEM ? "ENOMEM" : "EUNKNOWN";
    napi_value msg, code;
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &result);
    napi_reject_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

static napi_value start_writeback(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int64_t offset, length;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok || fd < 0 || offset < 0 || length <= 0) {
    napi_throw_type_error(env, NULL, "startWriteback: expected (fd, offset >= 0, length > 0)");
    return NULL;
  }
  writeback_t *w = calloc(1, sizeof *w);
  if (w == NULL) {
    napi_throw_error(env, NULL, "startWriteback: out of memory");
    return NULL;
  }
  w->fd = fd;
  w->offset = offset;
  w->length = length;
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "logfs:startWriteback", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, writeback_execute, writeback_complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}
#endif

/* Loaded by the main thread and by worker threads (the producer): set up once. */
NAPI_MODULE_INIT() {
  pthread_once(&once, init_once);
  napi_property_descriptor props[] = {
      {"crc32c", NULL, crc32c, NULL, NULL, NULL, napi_default, NULL},
      {"hardware", NULL, hardware, NULL, NULL, NULL, napi_default, NULL},
      {"trimHeap", NULL, trim_heap, NULL, NULL, NULL, napi_default, NULL},
      {"crc32Entries", NULL, crc32_entries, NULL, NULL, NULL, napi_default, NULL},
      {"encodeRecordBatch", NULL, encode_record_batch, NULL, NULL, NULL, napi_default, NULL},
      {"scanLines", NULL, scan_lines, NULL, NULL, NULL, napi_default, NULL},
      {"frameLines", NULL, frame_lines, NULL, NULL, NULL, napi_default, NULL},
      {"scanEntries", NULL, scan_entries, NULL, NULL, NULL, napi_default, NULL},
      {"groupEntries", NULL, group_entries, NULL, NULL, NULL, napi_default, NULL},
#ifdef __linux__
      {"startWriteback", NULL, start_writeback, NULL, NULL, NULL, napi_default, NULL},
#endif
#ifdef LOGFS_LZ4
      {"lz4DecompressBound", NULL, lz4_decompress_bound, NULL, NULL, NULL, napi_default, NULL},
      {"lz4Decompress", NULL, lz4_decompress, NULL, NULL, NULL, napi_default, NULL},
      {"lz4Compress", NULL, lz4_compress, NULL, NULL, NULL, napi_default, NULL},
#endif
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
