import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimeArg } from '../../../cli/time-arg.js';
import { archiveCat, archiveCommand, archiveFilterOptions, archiveLs, archiveQuery, type ArchiveArgs, type ArchiveOutput } from '../../../cli/archive-command.js';
import { isLogfsError } from '../../../core/errors.js';
import { ArchiveStore, type ArchivedRecord } from '../../../pipeline/archive/index.js';
import { makeRecord } from './agent-harness.js';

const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
let data: string;

function capture(): ArchiveOutput & { text: string[]; raw: Buffer[]; warnings: string[] } {
  const text: string[] = [];
  const raw: Buffer[] = [];
  const warnings: string[] = [];
  return { text, raw, warnings, line: (t) => void text.push(t), bytes: (b) => void raw.push(b), warn: (w) => void warnings.push(w) };
}

const args = (over: Partial<ArchiveArgs> = {}): ArchiveArgs => ({ data, name: 'default', ...over });

beforeAll(async () => {
  data = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-archive-cli-'));
  const store = await ArchiveStore.open({ dir: path.join(data, 'archive', 'default'), log: pino({ level: 'silent' }) });
  store.append(
    [
      makeRecord('GET / 200', { seq: 1, ts: T0 + 1_000, class: 'access' }),
      makeRecord(Buffer.from([0x00, 0xff, 0x10]), { seq: 2, ts: T0 + 2_000 }),
      makeRecord('ERROR boom', { seq: 3, ts: T0 + 3_000, class: 'error', instance: 'i-2' }),
      makeRecord('later', { seq: 4, ts: T0 + 7_200_000 }),
    ],
    { graph: 'g', version: 2 },
  );
  await store.flush();
  await store.close();
});

afterAll(() => {
  fs.rmSync(data, { recursive: true, force: true });
});

describe('logfsctl archive', () => {
  it('parses ISO, epoch-ms and relative times, and refuses anything else', () => {
    const now = Date.UTC(2024, 0, 1, 12, 0, 0);
    expect(parseTimeArg('-15m', 'from', now)).toBe(now - 15 * 60_000);
    expect(parseTimeArg('2h', 'from', now)).toBe(now - 2 * 3_600_000);
    expect(parseTimeArg('-1d', 'from', now)).toBe(now - 86_400_000);
    expect(parseTimeArg('-30s', 'from', now)).toBe(now - 30_000);
    expect(parseTimeArg('2024-05-01T10:00:00Z', 'from', now)).toBe(T0);
    expect(parseTimeArg('2024-05-01', 'from', now)).toBe(Date.UTC(2024, 4, 1));
    expect(parseTimeArg(String(T0), 'from', now)).toBe(T0);
    for (const bad of ['yesterday', '-15x', '12', '']) {
      expect(() => parseTimeArg(bad, 'to', now)).toThrow(/--to .*is not a time/);
    }
  });

  it('ls lists segments with counts and classes; --json gives the index data', async () => {
    const out = capture();
    await archiveLs(args(), out);
    expect(out.text[0]).toMatch(/^SEGMENT\s+RECORDS\s+BYTES\s+FIRST\s+LAST\s+CLASSES$/);
    expect(out.text[1]).toMatch(/^acme\/web\/2024-05-01\/10\/\S+\.ndjson\.gz\s+3\s+\S+\s+2024-05-01T10:00:01\.000Z\s+2024-05-01T10:00:03\.000Z\s+access:1,-:1,error:1$/);
    expect(out.text[2]).toMatch(/\/12\/\S+\s+1\s/);
    expect(out.text.at(-1)).toBe('2 segments, 4 records');
    const json = capture();
    await archiveLs(args({ json: true, class: 'error' }), json);
    const segs = JSON.parse(json.text.join('\n')) as { records: number; instances: Record<string, unknown> }[];
    expect(segs).toHaveLength(1);
    expect(Object.keys(segs[0]!.instances).sort()).toEqual(['i-1', 'i-2']);
  });

  it('cat prints the data byte for byte, one record per line, filtered', async () => {
    const out = capture();
    expect(await archiveCat(args({ to: '2024-05-01T11:00:00Z' }), out)).toBe(3);
    expect(out.raw).toEqual([Buffer.from('GET / 200'), Buffer.from([0x00, 0xff, 0x10]), Buffer.from('ERROR boom')]);
    const grep = capture();
    await archiveCat(args({ grep: '^ERROR', instance: 'i-2' }), grep);
    expect(grep.raw.map(String)).toEqual(['ERROR boom']);
  });

  it('query prints readable lines, or the archived objects with --json', async () => {
    const out = capture();
    await archiveQuery(args({ stream: 'web', from: '2024-05-01T10:00:02Z' }), out);
    expect(out.text).toEqual(['2024-05-01T10:00:02.000Z acme:web i-1#2 (base64) AP8Q', '2024-05-01T10:00:03.000Z acme:web i-2#3 [error] ERROR boom', '2024-05-01T12:00:00.000Z acme:web i-1#4 later']);
    const json = capture();
    await archiveQuery(args({ json: true, class: 'access' }), json);
    expect(json.text.map((l) => JSON.parse(l) as ArchivedRecord)).toMatchObject([{ id: 'i-1:1', data: 'GET / 200', class: 'access', graph: 'g', version: 2 }]);
  });

  it('names the archives there are when the one asked for is missing, and rejects bad input', async () => {
    const err = await archiveLs(args({ name: 'nope' }), capture()).catch((e: unknown) => e);
    expect(isLogfsError(err, 'LOGFS_E_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('there is: default');
    await expect(archiveLs(args({ name: '../etc' }), capture())).rejects.toThrow(/not an archive name/);
    await expect(archiveQuery(args({ grep: '(' }), capture())).rejects.toThrow(/--grep/);
    await expect(archiveQuery(args({ from: '-1h', to: '-2h' }), capture())).rejects.toThrow(/--from .* must be before --to/);
  });

  it('takes relative times as option values (--from -15m), not as flags', async () => {
    let seen: Record<string, unknown> | undefined;
    await yargs(['ls', '--from', '-15m', '--to', '-1m', '--stream', 'app/'])
      .command('ls', 'probe', (y) => archiveFilterOptions(y), (argv) => void (seen = argv))
      .parseAsync();
    expect(seen).toMatchObject({ from: '-15m', to: '-1m', stream: 'app/', name: 'default' });
    expect(archiveCommand.command).toBe('archive');
  });
});
