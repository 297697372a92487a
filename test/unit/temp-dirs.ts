import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Temporary directories of a test file, removed together when it is done:
 * `const temp = tempDirs(); afterAll(() => temp.remove());`, then `await temp.make('gw-')`.
 */
export function tempDirs(): { make(prefix: string): Promise<string>; remove(): Promise<void> } {
  const dirs: string[] = [];
  return {
    async make(prefix) {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    async remove() {
      for (const dir of dirs.splice(0)) await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
