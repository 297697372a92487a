import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { LOGFSCTL_NODE_FLAGS, LOGFSD_NODE_FLAGS } from '../../cli/node-flags.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

it("bin/logfsctl.js runs node with cli/node-flags.ts' flags, and they take effect", () => {
  const first = fs.readFileSync(path.join(ROOT, 'bin/logfsctl.js'), 'utf8').split('\n')[0];
  expect(first).toBe(`#!/usr/bin/env -S node ${LOGFSCTL_NODE_FLAGS.join(' ')}`);
  // They take effect: keeping some of many short-lived objects alive grows the young generation to
  // two 32 MiB semi-spaces (Node's default stops at two of 16 MiB).
  const grow =
    "let keep = []; for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 20000) keep = []; }" +
    "console.log(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576)";
  const mib = (flags: readonly string[]): number => Number(execFileSync(process.execPath, [...flags, '-e', grow], { encoding: 'utf8' }).trim());
  expect(mib(LOGFSCTL_NODE_FLAGS)).toBe(64);
  expect(mib([])).toBe(32);
  // logfsd's: two 4 MiB semi-spaces.
  expect(mib(LOGFSD_NODE_FLAGS)).toBe(8);
});

it("everything that starts logfsd passes cli/node-flags.ts' LOGFSD_NODE_FLAGS", () => {
  const read = (f: string): string => fs.readFileSync(path.join(ROOT, f), 'utf8');
  const flags = LOGFSD_NODE_FLAGS.join(' ');
  expect(read('bin/logfsd.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
  // The mount helper is a shell script: the flags are written out there.
  expect(read('scripts/mount.fuse.logfs.in')).toContain(`@NODE@ ${flags} @ROOT@/bin/logfsd.js`);
  // The TypeScript launchers spread the constant in front of the script.
  for (const f of ['cli/logfsctl.ts', 'bench/logfsd-process.ts', 'test/integration/harness.ts', 'test/integration/gateway-remote.test.ts']) {
    expect(read(f), f).toMatch(/\[\.\.\.LOGFSD_NODE_FLAGS, /);
  }
});
