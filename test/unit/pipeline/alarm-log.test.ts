import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatAlarm, printAlarms } from '../../../cli/alarms-command.js';
import type { AlarmEvent } from '../../../pipeline/agent.js';
import { ALARM_LOG_FILE, AlarmLog, readAlarms } from '../../../pipeline/alarm-log.js';

const T0 = Date.UTC(2024, 4, 1, 12);

function event(time: number, state: AlarmEvent['state'] = 'firing', alarm = 'g.al.panic'): AlarmEvent {
  return { alarm, state, condition: 'data =~ /panic/', value: state === 'firing' ? 1 : null, instance: null, time, sampleRecordIds: state === 'firing' ? ['i-1:7'] : [], graph: 'g', node: 'al' };
}

async function collect(it: AsyncIterable<AlarmEvent>): Promise<AlarmEvent[]> {
  const all: AlarmEvent[] = [];
  for await (const e of it) all.push(e);
  return all;
}

/** Resolves once `check` holds, polling briefly; fails the test after `ms`. */
async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-alarms-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('alarm log', () => {
  it('appends alarms on flush and reads them back in order, from a time on', async () => {
    const log = await AlarmLog.open({ dir });
    log.publish([event(T0), event(T0 + 1000, 'resolved')]);
    expect(await collect(readAlarms(dir))).toEqual([]);
    await log.flush();
    log.publish([event(T0 + 2000)]);
    await log.close();
    expect(await collect(readAlarms(dir))).toEqual([event(T0), event(T0 + 1000, 'resolved'), event(T0 + 2000)]);
    expect((await collect(readAlarms(dir, { since: T0 + 1000 }))).map((e) => e.time)).toEqual([T0 + 1000, T0 + 2000]);
  });

  it('follows the file: alarms appended later arrive until the signal aborts', async () => {
    const log = await AlarmLog.open({ dir });
    log.publish([event(T0)]);
    await log.flush();
    const stop = new AbortController();
    const seen: AlarmEvent[] = [];
    const reading = (async () => {
      for await (const e of readAlarms(dir, { follow: true, signal: stop.signal, pollMs: 5000 })) seen.push(e);
    })();
    await eventually(() => seen.length === 1);
    log.publish([event(T0 + 1, 'resolved'), event(T0 + 2, 'firing', 'g.al.other')]);
    await log.flush();
    // pollMs is long: this arrives through the change notification.
    await eventually(() => seen.length === 3, 3000);
    expect(seen.map((e) => e.alarm)).toEqual(['g.al.panic', 'g.al.panic', 'g.al.other']);
    stop.abort();
    await reading;
    await log.close();
  });

  it('follows a log that does not exist yet, and holds back a line until it is complete', async () => {
    const stop = new AbortController();
    const seen: AlarmEvent[] = [];
    const alarmsDir = path.join(dir, 'alarms');
    const reading = (async () => {
      for await (const e of readAlarms(alarmsDir, { follow: true, signal: stop.signal, pollMs: 20 })) seen.push(e);
    })();
    await fsp.mkdir(alarmsDir);
    const line = JSON.stringify(event(T0));
    await fsp.writeFile(path.join(alarmsDir, ALARM_LOG_FILE), line.slice(0, 10));
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([]);
    await fsp.appendFile(path.join(alarmsDir, ALARM_LOG_FILE), line.slice(10) + '\n');
    await eventually(() => seen.length === 1);
    expect(seen[0]).toEqual(event(T0));
    stop.abort();
    await reading;
  });

  it('logfsctl alarms prints a line per alarm', async () => {
    const log = await AlarmLog.open({ dir: path.join(dir, 'alarms') });
    log.publish([event(T0), event(T0 + 60_000, 'resolved')]);
    await log.close();
    const lines: string[] = [];
    const n = await printAlarms({ dataDir: dir, follow: false, json: false, print: (l) => lines.push(l), warn: () => {} });
    expect(n).toBe(2);
    expect(lines).toEqual([
      '2024-05-01T12:00:00.000Z  FIRING    g.al.panic  data =~ /panic/  value=1  samples=i-1:7',
      '2024-05-01T12:01:00.000Z  RESOLVED  g.al.panic  data =~ /panic/',
    ]);
    expect(formatAlarm(event(T0))).toBe(lines[0]);
    const json: string[] = [];
    await printAlarms({ dataDir: dir, follow: false, json: true, since: '2024-05-01T12:00:30Z', print: (l) => json.push(l), warn: () => {} });
    expect(json.map((l) => JSON.parse(l).state)).toEqual(['resolved']);
  });
});
