import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveStore, archivedData, listArchive, readArchive, type ArchivedRecord, type ArchiveFilter, type ReadOptions } from '../../../pipeline/archive/index.js';
import type { PipelineRecord } from '../../../pipeline/record.js';
import { makeRecord } from './agent-harness.js';

const H = 3_600_000;
const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
const origin = { graph: 'g', version: 1 };
let root: string;

function rec(seq: number, ts: number, data: string | Buffer, over: Partial<PipelineRecord> = {}): PipelineRecord {
  return makeRecord(data, { seq, ts, instance: 'i-1', ...over });
}

async function readAll(filter: ArchiveFilter = {}, opts: ReadOptions = {}): Promise<ArchivedRecord[]> {
  const out: ArchivedRecord[] = [];
  for await (const r of readArchive(root, filter, opts)) out.push(r);
  return out;
}

const text = (rs: ArchivedRecord[]): string[] => rs.map((r) => archivedData(r).toString('latin1'));

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-archive-query-'));
  const log = pino({ level: 'silent' });
  const a = await ArchiveStore.open({ dir: root, log, writerId: 'wa' });
  const b = await ArchiveStore.open({ dir: root, log, writerId: 'wb' });
  // web: two writers, three hours, arriving out of time order within an hour.
  a.append([rec(1, T0 + 5_000, 'web a1', { class: 'error' }), rec(2, T0 + 1_000, 'web a2'), rec(3, T0 + H + 10, 'web a3 next hour')], origin);
  b.append([rec(10, T0 + 3_000, 'web b1', { instance: 'i-2' }), rec(11, T0 + 2 * H + 1, 'web b2 third hour', { instance: 'i-2', class: 'error' })], origin);
  await a.flush();
  await b.flush();
  a.append([rec(4, T0 + 500, 'web a4 late, same hour')], origin);
  await a.flush();
  // app/error and app/access: namespaced streams; one binary record.
  a.append([rec(20, T0 + 100, 'app error one', { stream: 'app/error' }), rec(21, T0 + 200, Buffer.from([0x62, 0x69, 0x6e, 0xff, 0x00]), { stream: 'app/error' })], origin);
  a.append([rec(30, T0 + 150, 'app access', { stream: 'app/access' })], origin);
  // Another provider with the same stream name.
  a.append([rec(40, T0 + 50, 'other provider', { provider: 'globex' })], origin);
  await a.flush();
  await a.close();
  await b.close();
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('listArchive', () => {
  it('lists every segment from the indexes, by provider, stream and time', async () => {
    const segs = await listArchive(root);
    expect(segs.map((s) => `${s.provider} ${s.stream} ${s.date}/${s.hour} ${s.writer} ${s.records}`)).toEqual([
      'acme app/access 2024-05-01/10 wa 1',
      'acme app/error 2024-05-01/10 wa 2',
      'acme web 2024-05-01/10 wa 3',
      'acme web 2024-05-01/10 wb 1',
      'acme web 2024-05-01/11 wa 1',
      'acme web 2024-05-01/12 wb 1',
      'globex web 2024-05-01/10 wa 1',
    ]);
  });

  it('filters by provider, stream, stream prefix, class, instance and time, from the index alone', async () => {
    const key = (segs: { provider: string; stream: string; hour: string; writer: string }[]): string[] => segs.map((s) => `${s.provider} ${s.stream} ${s.hour} ${s.writer}`);
    expect(key(await listArchive(root, { provider: 'globex' }))).toEqual(['globex web 10 wa']);
    expect(key(await listArchive(root, { stream: 'app/' }))).toEqual(['acme app/access 10 wa', 'acme app/error 10 wa']);
    expect(key(await listArchive(root, { stream: 'app' }))).toEqual([]);
    expect(key(await listArchive(root, { stream: 'web', class: 'error' }))).toEqual(['acme web 10 wa', 'acme web 12 wb']);
    expect(key(await listArchive(root, { provider: 'acme', instance: 'i-2' }))).toEqual(['acme web 10 wb', 'acme web 12 wb']);
    expect(key(await listArchive(root, { provider: 'acme', stream: 'web', from: T0 + H, to: T0 + 2 * H }))).toEqual(['acme web 11 wa']);
    // Inside an hour, the segments' own time range decides.
    expect(key(await listArchive(root, { provider: 'acme', stream: 'web', from: T0 + 4_000, to: T0 + H }))).toEqual(['acme web 10 wa']);
  });
});

describe('readArchive', () => {
  it('returns the records of each stream in time order, across writers and late arrivals', async () => {
    const got = await readAll({ provider: 'acme', stream: 'web' });
    expect(text(got)).toEqual(['web a4 late, same hour', 'web a2', 'web b1', 'web a1', 'web a3 next hour', 'web b2 third hour']);
  });

  it('keeps that order when an hour is read in several time slices to bound memory', async () => {
    const whole = await readAll();
    const sliced = await readAll({}, { sortBufferBytes: 50 });
    expect(text(sliced)).toEqual(text(whole));
    expect(whole).toHaveLength(10);
  });

  it('filters records by time, class, instance and grep, on text and on binary data', async () => {
    expect(text(await readAll({ stream: 'web', from: T0 + 1_000, to: T0 + 5_000 }))).toEqual(['web a2', 'web b1']);
    expect(text(await readAll({ class: 'error' }))).toEqual(['web a1', 'web b2 third hour']);
    expect(text(await readAll({ instance: 'i-2' }))).toEqual(['web b1', 'web b2 third hour']);
    expect(text(await readAll({ grep: /^web a\d$/ }))).toEqual(['web a2', 'web a1']);
    expect(text(await readAll({ grep: '^bin' }))).toEqual(['bin\xff\x00']);
    expect(text(await readAll({ stream: 'app/', provider: 'acme' }))).toEqual(['app access', 'app error one', 'bin\xff\x00']);
  });

  it('reports a damaged index or segment and goes on with the rest', async () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-archive-damaged-'));
    try {
      fs.cpSync(root, copy, { recursive: true });
      const segs = await listArchive(copy, { provider: 'acme', stream: 'web' });
      const wbIndex = path.join(copy, path.dirname(segs.find((s) => s.writer === 'wb')!.path), 'wb.index.json');
      fs.writeFileSync(wbIndex, '{"format":1');
      const waSeg = path.join(copy, segs.find((s) => s.writer === 'wa' && s.hour === '11')!.path);
      fs.writeFileSync(waSeg, fs.readFileSync(waSeg).subarray(0, 20));
      const problems: string[] = [];
      const got: ArchivedRecord[] = [];
      for await (const r of readArchive(copy, { provider: 'acme', stream: 'web' }, { onProblem: (m) => problems.push(m) })) got.push(r);
      expect(text(got)).toEqual(['web a4 late, same hour', 'web a2', 'web a1', 'web b2 third hour']);
      expect(problems).toHaveLength(2);
      expect(problems.join('\n')).toContain(wbIndex);
      expect(problems.join('\n')).toContain(waSeg);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it('reads nothing from an empty or missing root', async () => {
    expect(await listArchive(path.join(root, 'nope'))).toEqual([]);
    expect(await readAll({ provider: 'nobody' })).toEqual([]);
  });
});
