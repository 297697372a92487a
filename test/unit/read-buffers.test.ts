import { expect, it } from 'vitest';
import { READ_BUFFER_GRAIN, ReadBufferPool, RunPlacesPool } from '../../gateway/read-buffers.js';

const MiB = READ_BUFFER_GRAIN;

it('allocates whole MiB, so that the next read a few bytes longer reuses the buffer', () => {
  const pool = new ReadBufferPool();
  const a = pool.take(2.7 * MiB);
  expect(a.length).toBe(3 * MiB);
  pool.keep(a);
  expect(pool.take(2.7 * MiB + 1000)).toBe(a);
});

it('drops kept buffers too small for a larger read, and keeps at most `kept`', () => {
  const pool = new ReadBufferPool(2);
  const small = pool.take(MiB);
  pool.keep(small);
  const big = pool.take(3 * MiB);
  expect(big).not.toBe(small);
  expect(pool.size).toBe(0); // the 1 MiB one would never fit reads of this size
  const more = [pool.take(3 * MiB), pool.take(3 * MiB)];
  for (const b of [big, ...more]) pool.keep(b);
  expect(pool.size).toBe(2);
  pool.keep(more[0]!); // kept once only
  expect(pool.size).toBe(2);
});

it('gives small reads a buffer of their size and keeps no foreign buffer', () => {
  const pool = new ReadBufferPool();
  const tiny = pool.take(10_000);
  expect(tiny.length).toBe(10_000);
  pool.keep(tiny);
  pool.keep(Buffer.alloc(MiB + 1));
  pool.keep(Buffer.allocUnsafeSlow(2 * MiB).subarray(MiB)); // not the start of its memory
  expect(pool.size).toBe(0);
  // A kept buffer serves a small read too: its memory is resident already.
  const big = pool.take(MiB);
  pool.keep(big);
  expect(pool.take(10_000)).toBe(big);
});

it('reuses the place arrays of a run, sized for a whole batch at least, and keeps at most `kept` sets', () => {
  const pool = new RunPlacesPool(40_000, 2);
  const a = pool.take(100);
  expect([a.starts.length, a.lengths.length, a.group.length]).toEqual([40_000, 40_000, 40_000]);
  pool.keep(a);
  pool.keep(a); // kept once only
  expect(pool.size).toBe(1);
  expect(pool.take(40_000)).toBe(a);
  // A run of more entries than a batch (a read of many tiny entries) gets arrays of its own size.
  const big = pool.take(50_000);
  expect(big.starts.length).toBe(50_000);
  const c = pool.take(10);
  for (const p of [a, big, c]) pool.keep(p);
  expect(pool.size).toBe(2);
  expect(pool.take(45_000)).toBe(big);
});
