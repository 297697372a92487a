/**
 * The fleet in embedded mode (one host, one data directory): each member keeps
 * `<data>/fleet/<id>.json`, replaced atomically (written aside, renamed); views read the folder
 * when fs.watch says it changed and every 250 ms besides (fs.watch can miss renames).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { MemberMessageSchema, type MemberMessage } from './member.js';
import { FLEET_DEFAULTS, type FleetTransport, type MemberUpdate } from './transport.js';

const SUFFIX = '.json';

export class FileFleet implements FleetTransport {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly log: Logger,
  ) {
    this.dir = path.join(dataDir, FLEET_DEFAULTS.dirName);
  }

  async publish(message: MemberMessage): Promise<void> {
    const file = path.join(this.dir, message.id + SUFFIX);
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    try {
      await fsp.writeFile(tmp, JSON.stringify(message));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fsp.mkdir(this.dir, { recursive: true });
      await fsp.writeFile(tmp, JSON.stringify(message));
    }
    await fsp.rename(tmp, file);
  }

  async remove(id: string): Promise<void> {
    await fsp.rm(path.join(this.dir, id + SUFFIX), { force: true });
  }

  async subscribe(onUpdate: (update: MemberUpdate) => void): Promise<{ close(): Promise<void> }> {
    await fsp.mkdir(this.dir, { recursive: true });
    /** What we delivered per file: its mtime and size, to read only files that changed. */
    const seen = new Map<string, string>();
    let scanning: Promise<void> | undefined;
    let rescan = false;
    let closed = false;
    const scanOnce = async (): Promise<void> => {
      const names = (await fsp.readdir(this.dir).catch(() => [] as string[])).filter((n) => n.endsWith(SUFFIX));
      const present = new Set<string>();
      for (const name of names) {
        const file = path.join(this.dir, name);
        const st = await fsp.stat(file).catch(() => undefined);
        if (!st) continue; // removed meanwhile: handled below at the next scan
        present.add(name);
        const stamp = `${st.mtimeMs}/${st.size}/${st.ino}`;
        if (seen.get(name) === stamp) continue;
        seen.set(name, stamp);
        const message = await this.read(file);
        const id = name.slice(0, -SUFFIX.length);
        if (message?.id === id && !closed) onUpdate({ id, message });
      }
      for (const name of [...seen.keys()]) {
        if (present.has(name)) continue;
        seen.delete(name);
        if (!closed) onUpdate({ id: name.slice(0, -SUFFIX.length), message: null });
      }
    };
    const scan = (): Promise<void> => {
      if (scanning) {
        rescan = true;
        return scanning;
      }
      scanning = scanOnce()
        .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'fleet: reading the fleet folder failed'))
        .finally(() => {
          scanning = undefined;
          if (rescan && !closed) {
            rescan = false;
            void scan();
          }
        });
      return scanning;
    };
    await scan();
    let watcher: fs.FSWatcher | undefined;
    try {
      watcher = fs.watch(this.dir, (_event, name) => {
        if (name?.endsWith(SUFFIX)) void scan();
      });
      watcher.on('error', () => undefined);
    } catch {
      // fs.watch is an optimisation; polling is the guarantee.
    }
    const poller = setInterval(() => void scan(), FLEET_DEFAULTS.pollMs);
    poller.unref();
    return {
      close: async () => {
        closed = true;
        clearInterval(poller);
        watcher?.close();
        await scanning;
      },
    };
  }

  async close(): Promise<void> {}

  private async read(file: string): Promise<MemberMessage | undefined> {
    let json: unknown;
    try {
      json = JSON.parse(await fsp.readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file, err: errorMessage(err) }, 'fleet: member file is not JSON; skipped');
      return undefined;
    }
    const parsed = MemberMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.log.warn({ file, problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'fleet: member file does not match the member schema; skipped');
      return undefined;
    }
    return parsed.data;
  }
}
