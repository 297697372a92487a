/**
 * The fast write path (docs/filesystem.md "The fast write path") on a real FUSE mount and a real
 * Kafka broker: logfsd answers one-write-per-line writers from C, and a write whose bytes the
 * gateway refuses after that answer is reported by the handle's next fsync() and write(), never
 * lost in silence; the handle takes the fast path again once its writes succeed.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileProvisioningStore } from '../../control/store.js';
import { StreamKeyring } from '../../gateway/record-crypto.js';
import { openInPlace } from '../../pipeline/record-keys.js';
import { consumeRecords, Daemon, ensureKafka, execFileP, logfsctl, sleep, text, waitFor } from './harness.js';

const EIO = 'EIO';

describe('fast write path: FUSE writes answered in C', () => {
  let d: Daemon;

  beforeAll(async () => {
    await ensureKafka();
    d = await Daemon.start({ kafka: true, streams: ['fast'] });
    const r = await logfsctl(['stream', 'create', 'locked', '--encrypt', '--data', d.dataDir, '--provider', d.provider]);
    if (r.code !== 0) throw new Error(`stream create failed: ${r.stderr}`);
    await waitFor('the locked stream on the mount', () => fs.existsSync(d.path('locked')));
  });

  afterAll(async () => {
    await d?.cleanup();
  });

  it('answers one write() per line from C for 4 writers; every line arrives once, in each writer\'s order', async () => {
    const before = (await d.metrics()).logfs_fuse_fast_writes ?? 0;
    const script = (k: number): string =>
      `import os\nfd = os.open('${d.path('fast', `w${k}`)}', os.O_WRONLY | os.O_APPEND)\nfor i in range(5000):\n    os.write(fd, b'w${k}-%05d\\n' % i)\nos.close(fd)\n`;
    await Promise.all(Array.from({ length: 4 }, (_, k) => execFileP('python3', ['-c', script(k)])));
    const records = await consumeRecords(d.topic('fast'), 20_000);
    expect(records).toHaveLength(20_000);
    for (let k = 0; k < 4; k++) {
      const mine = records.filter((r) => r.class === `w${k}`).map(text);
      expect(mine).toEqual(Array.from({ length: 5000 }, (_, i) => `w${k}-${String(i).padStart(5, '0')}`));
    }
    // The path was on: the writes were answered by it, not by JavaScript one by one.
    expect((await d.metrics()).logfs_fuse_fast_writes - before).toBeGreaterThanOrEqual(20_000);
  });

  it('a refused write already answered fails the next fsync(), later writes fail at once, and the handle recovers', async () => {
    const store = await FileProvisioningStore.open(d.dataDir);
    const key = store.snapshot().streams.locked!.key;
    const fd = fs.openSync(d.path('locked'), 'a');
    const accepted: string[] = [];
    const writeAndSync = (line: string): void => {
      fs.writeSync(fd, `${line}\n`);
      fs.fsyncSync(fd);
      accepted.push(line);
    };
    try {
      writeAndSync('before');
      // A store edited by hand: the stream is encrypted but has no key, so the gateway refuses its
      // records rather than write them in clear.
      await store.update((s) => {
        s.streams.locked!.key = null;
      });
      // Until logfsd applies the edit, writes are accepted; the first refused one is answered by
      // the fast path (write() succeeds) and reported by fsync().
      let reported: NodeJS.ErrnoException | undefined;
      for (let i = 0; i < 400 && !reported; i++) {
        try {
          writeAndSync(`probe-${i}`);
        } catch (err) {
          reported = err as NodeJS.ErrnoException;
        }
        if (!reported) await sleep(25);
      }
      expect(reported?.code).toBe(EIO);
      // The handle is diverted: its next write is answered by JavaScript, which refuses it itself.
      expect(() => fs.writeSync(fd, 'refused at once\n')).toThrow(expect.objectContaining({ code: EIO }));

      await store.update((s) => {
        s.streams.locked!.key = key;
      });
      // Once the key is back, a write succeeds and the handle returns to the fast path.
      await waitFor('a write on the locked stream to succeed again', () => {
        try {
          fs.writeSync(fd, 'after\n');
          return true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== EIO) throw err;
          return false;
        }
      });
      fs.fsyncSync(fd);
      accepted.push('after');
      const fastBefore = (await d.metrics()).logfs_fuse_fast_writes;
      writeAndSync('fast again');
      expect((await d.metrics()).logfs_fuse_fast_writes).toBe(fastBefore + 1);
    } finally {
      fs.closeSync(fd);
    }
    const keys = new StreamKeyring(Object.values(store.snapshot().streams));
    await store.close();

    // Exactly the lines whose write() and fsync() succeeded are in Kafka: none of the refused ones.
    const records = await consumeRecords(d.topic('locked'), accepted.length, 60_000, 1500);
    for (const r of records) expect(openInPlace(r, keys)).toBeUndefined();
    expect(records.map(text)).toEqual(accepted);
    expect(await d.logTail(200)).toMatch(/an answered write could not be ingested/);
  });
});
