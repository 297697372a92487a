/**
 * The write path end to end on a real FUSE mount and a real Kafka broker: the usual ways of writing
 * a file, framing, concurrent writers, and the documented errors of docs/filesystem.md.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordId } from '../../gateway/index.js';
import { consumeRecords, Daemon, ensureKafka, execFileP, fwriteWriter, logfsctl, sh, text, waitFor } from './harness.js';

describe('write path: FUSE mount → gateway → Kafka', () => {
  let d: Daemon;

  beforeAll(async () => {
    await ensureKafka();
    d = await Daemon.start({
      kafka: true,
      streams: ['shell', 'stdio', 'conc', { name: 'myapp/error', partitions: 3 }, 'bytes', 'chunks', 'errs', 'nobody'],
      config: { mount: { maxRecordBytes: 1024 } },
    });
  });

  afterAll(async () => {
    await d?.cleanup();
  });

  it('takes lines from echo >>, printf without newline, tee -a and dd bs=64k', async () => {
    const s = d.path('shell');
    await sh(`echo first >> ${s}`);
    await sh(`printf 'no newline at the end' > ${s}`);
    await sh(`printf 'tee one\\ntee two\\n' | tee -a ${s} > /dev/null`);
    // 64 KiB blocks of 64-byte lines: 2 blocks = 2048 lines.
    await sh(`python3 -c "import sys; sys.stdout.write(''.join('dd-line-%054d\\n' % i for i in range(2048)))" | dd of=${s} bs=64k iflag=fullblock status=none`);
    const records = await consumeRecords(d.topic('shell'), 4 + 2048);
    expect(records).toHaveLength(4 + 2048);
    expect(records.slice(0, 4).map(text)).toEqual(['first', 'no newline at the end', 'tee one', 'tee two']);
    const dd = records.slice(4).map(text);
    expect(dd[0]).toBe(`dd-line-${'0'.repeat(54)}`);
    expect(new Set(dd).size).toBe(2048);
    expect(dd.every((l) => /^dd-line-\d{54}$/.test(l))).toBe(true);
    for (const r of records) {
      expect(r).toMatchObject({ v: 1, provider: d.provider, stream: 'shell', class: null, instance: d.instance, source: 'fuse' });
    }
    // Per-instance sequence numbers strictly increase in Kafka order.
    const seqs = records.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('takes lines from a C program (fopen/fwrite/fclose) and Python open(..., "a")', async () => {
    const writer = await fwriteWriter();
    await execFileP(writer, [d.path('stdio'), 'w', 'c', '5000']);
    await execFileP(writer, [d.path('stdio', 'crit'), 'a', 'c-crit', '10']);
    await sh(`python3 -c "
f = open('${d.path('stdio', 'py')}', 'a')
f.write('python one\\npython two\\n')
f.seek(0)          # seeking succeeds and does nothing
f.truncate(0)      # so does truncate
f.write('python three\\n')
f.close()"`);
    const records = await consumeRecords(d.topic('stdio'), 5013);
    expect(records).toHaveLength(5013);
    expect(records.slice(0, 5000).map(text)).toEqual(Array.from({ length: 5000 }, (_, i) => `c-${i}`));
    expect(records.slice(5000, 5010).map((r) => [r.class, text(r)])).toEqual(Array.from({ length: 10 }, (_, i) => ['crit', `c-crit-${i}`]));
    expect(records.slice(5010).map((r) => [r.class, text(r)])).toEqual([
      ['py', 'python one'],
      ['py', 'python two'],
      ['py', 'python three'],
    ]);
  });

  it('8 concurrent writers x 10,000 lines with different class labels: every line exactly once, intact, right class', async () => {
    // Each writer does one write() per line through its own handle.
    const script = (k: number): string =>
      `import os\nfd = os.open('${d.path('conc', `w${k}/sub`)}', os.O_WRONLY | os.O_APPEND)\nfor i in range(10000):\n    os.write(fd, b'writer-${k}-line-%05d-' % i + b'x' * (i % 50) + b'\\n')\nos.close(fd)\n`;
    await Promise.all(Array.from({ length: 8 }, (_, k) => execFileP('python3', ['-c', script(k)])));
    const records = await consumeRecords(d.topic('conc'), 80_000, 120_000, 1000);
    expect(records).toHaveLength(80_000);
    const seen = new Map<string, string | null>();
    for (const r of records) {
      const line = text(r);
      const m = /^writer-(\d)-line-(\d{5})-(x*)$/.exec(line);
      expect(m, `intact line: ${JSON.stringify(line)}`).not.toBeNull();
      const [, k, i, xs] = m as RegExpExecArray;
      expect(xs.length).toBe(Number(i) % 50);
      expect(r.class).toBe(`w${k}/sub`);
      expect(seen.has(line)).toBe(false);
      seen.set(line, r.class);
    }
    expect(seen.size).toBe(80_000);
    expect(new Set(records.map(recordId)).size).toBe(80_000);
  });

  it('passes NUL and invalid UTF-8 byte for byte, and cuts over-long lines into marked parts', async () => {
    const binary = Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0x0a]);
    const long = Buffer.alloc(2500, 0x4c); // maxRecordBytes is 1024 in this mount
    await fsp.appendFile(d.path('bytes'), Buffer.concat([binary, long, Buffer.from('\nafter\n')]));
    const records = await consumeRecords(d.topic('bytes'), 5);
    expect(records).toHaveLength(5);
    expect(records[0]?.data.equals(binary.subarray(0, binary.length - 1))).toBe(true);
    expect(records[0]?.part).toBeUndefined();
    expect(records.slice(1, 4).map((r) => [r.data.length, r.part])).toEqual([
      [1024, [0, false]],
      [1024, [1, false]],
      [452, [2, true]],
    ]);
    expect(Buffer.concat(records.slice(1, 4).map((r) => r.data)).equals(long)).toBe(true);
    expect(records.slice(1, 4).map((r) => r.seq)).toEqual([records[1]!.seq, records[1]!.seq + 1, records[1]!.seq + 2]);
    expect(text(records[4]!)).toBe('after');
  });

  it('frames lines that straddle writes of every size, overlong ones among them, exactly as written', async () => {
    // Line lengths around the record limit (1024) and the MessagePack size classes, in writes that
    // cut lines anywhere: the complete lines of a write are framed in C, the rest by the handle's
    // framer, and the records must not show where one took over from the other.
    const lengths = [0, 1, 255, 256, 1023, 1024, 1025, 3000, 2048, 99];
    for (let i = 0; i < 400; i++) lengths.push((i * 7919) % 300);
    const lines = lengths.map((n, i) => Buffer.alloc(n, 0x41 + (i % 26)));
    const all = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
    const fh = await fsp.open(d.path('chunks'), 'a');
    const sizes = [7, 100, 4096, 333, 65_536, 1, 1024, 1025];
    for (let at = 0, k = 0; at < all.length; k++) {
      const n = Math.min(sizes[k % sizes.length]!, all.length - at);
      await fh.write(all, at, n);
      at += n;
    }
    await fh.close();
    const expected: { data: Buffer; part?: [number, boolean] }[] = [];
    for (const l of lines) {
      if (l.length <= 1024) expected.push({ data: l });
      else for (let p = 0; p * 1024 < l.length; p++) expected.push({ data: l.subarray(p * 1024, (p + 1) * 1024), part: [p, (p + 1) * 1024 >= l.length] });
    }
    const records = await consumeRecords(d.topic('chunks'), expected.length);
    expect(records).toHaveLength(expected.length);
    for (const [i, e] of expected.entries()) {
      expect(records[i]!.data.equals(e.data), `record ${i}`).toBe(true);
      expect(records[i]!.part, `record ${i}`).toEqual(e.part);
    }
    const seqs = records.map((r) => r.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });

  it('a namespaced stream resolves to the longest prefix; ls shows streams and namespaces', async () => {
    await sh(`echo oops >> ${d.path('myapp/error', 'critical/db')}`);
    const [r] = await consumeRecords(d.topic('myapp/error'), 1);
    expect(r).toMatchObject({ stream: 'myapp/error', class: 'critical/db' });
    expect(text(r!)).toBe('oops');
    const root = (await sh(`ls -1 ${d.mnt}`)).trim().split('\n');
    expect(root).toEqual(expect.arrayContaining(['shell', 'stdio', 'myapp']));
    expect((await sh(`ls -1 ${d.mnt}/myapp`)).trim()).toBe('error');
    const st = await fsp.stat(d.path('shell'));
    expect(st.mode & 0o777).toBe(0o222);
    expect(st.isFile()).toBe(true);
    expect(st.blksize).toBe(131072);
    expect((await fsp.stat(path.join(d.mnt, 'myapp'))).isDirectory()).toBe(true);
  });

  it('answers the documented errno for reads, unlinks, renames, mkdir, chmod, symlink, unknown streams and bad labels', async () => {
    const py = `
import errno, os, sys
m = sys.argv[1]
s = os.path.join(m, 'errs')
def code(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
out = {}
out['open_rdonly'] = code(lambda: os.open(s, os.O_RDONLY))
def rdwr_read():
    fd = os.open(s, os.O_RDWR)
    try:
        os.read(fd, 10)
    finally:
        os.close(fd)
out['read'] = code(rdwr_read)
def seek_write():
    fd = os.open(s, os.O_WRONLY | os.O_TRUNC | os.O_CREAT)
    os.lseek(fd, 12345, 0)
    os.write(fd, b'after seek\\n')
    os.fsync(fd)
    os.close(fd)
out['seek_write_fsync'] = code(seek_write)
out['truncate'] = code(lambda: os.truncate(s, 0))
out['unlink'] = code(lambda: os.unlink(s))
out['rename'] = code(lambda: os.rename(s, os.path.join(m, 'other')))
out['mkdir'] = code(lambda: os.mkdir(os.path.join(m, 'newdir')))
out['chmod'] = code(lambda: os.chmod(s, 0o666))
out['symlink'] = code(lambda: os.symlink(s, os.path.join(m, 'link')))
out['unprovisioned'] = code(lambda: open(os.path.join(m, 'nope'), 'a'))
out['dotdot_label'] = code(lambda: open(s + '@..', 'a'))
out['dot_label'] = code(lambda: open(s + '@.', 'a'))
out['control_label'] = code(lambda: open(s + '@a\\x01b', 'a'))
out['long_label'] = code(lambda: open(s + '@' + 'x' * 201, 'a'))
out['label_on_stream_path'] = code(lambda: open(s + '/critical', 'a'))
print(repr(out))
`;
    const { stdout } = await execFileP('python3', ['-c', py, d.mnt]);
    expect(stdout.trim()).toBe(
      repr({
        open_rdonly: 'EACCES',
        read: 'EACCES',
        seek_write_fsync: 'ok',
        truncate: 'ok',
        unlink: 'EPERM',
        rename: 'EPERM',
        mkdir: 'EPERM',
        chmod: 'EPERM',
        symlink: 'EPERM',
        unprovisioned: 'ENOENT',
        dotdot_label: 'EINVAL',
        dot_label: 'EINVAL',
        control_label: 'EINVAL',
        long_label: 'ENAMETOOLONG',
        label_on_stream_path: 'ENOTDIR',
      }),
    );
    const [r] = await consumeRecords(d.topic('errs'), 1);
    expect(text(r!)).toBe('after seek');
  });

  it('gives an unprivileged user the same answers as root', async () => {
    // The temp dirs are private; let "nobody" reach the mount.
    await fsp.chmod(path.dirname(d.mnt), 0o755);
    const py = `
import errno, os
s = '${d.path('nobody')}'
def code(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
def write():
    with open(s + '@nobody', 'a') as f:
        f.write('written by nobody\\n')
print(code(write), code(lambda: open(s).read()), code(lambda: os.unlink(s)), code(lambda: open('${d.mnt}/nope', 'a')), code(lambda: os.mkdir('${d.mnt}/dir')))
`;
    const { stdout } = await execFileP('runuser', ['-u', 'nobody', '--', 'python3', '-c', py]);
    expect(stdout.trim()).toBe('ok EACCES EPERM ENOENT EPERM');
    const [r] = await consumeRecords(d.topic('nobody'), 1);
    expect([r!.class, text(r!)]).toEqual(['nobody', 'written by nobody']);
  });

  it('a stream created while mounted appears at once; a deleted one disappears', async () => {
    const created = await logfsctl(['stream', 'create', 'late', '--data', d.dataDir, '--provider', d.provider]);
    expect(created.code).toBe(0);
    await waitFor('new stream in the mount', async () => (await fsp.readdir(d.mnt)).includes('late'), 2000, 20);
    await sh(`echo hello late >> ${d.path('late')}`);
    const [r] = await consumeRecords(d.topic('late'), 1);
    expect(text(r!)).toBe('hello late');
    expect((await logfsctl(['stream', 'delete', 'late', '--data', d.dataDir])).code).toBe(0);
    await waitFor('deleted stream gone', async () => !(await fsp.readdir(d.mnt)).includes('late'), 2000, 20);
    await expect(fsp.appendFile(d.path('late'), 'x\n')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

function repr(o: Record<string, string>): string {
  return `{${Object.entries(o).map(([k, v]) => `'${k}': '${v}'`).join(', ')}}`;
}
