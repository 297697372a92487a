import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENTS, REGISTRY } from '../../../pipeline/registry.js';

const AGENTS_DIR = path.resolve(import.meta.dirname, '../../../pipeline/agents');

describe('agent registry', () => {
  it('lists every agent file under pipeline/agents, once, by its type name', () => {
    const files = fs
      .readdirSync(AGENTS_DIR, { withFileTypes: true })
      .map((e) => (e.isDirectory() ? e.name : e.name.replace(/\.ts$/, '')))
      .sort();
    expect(AGENTS.map((a) => a.type).sort()).toEqual(files);
    expect(REGISTRY.size).toBe(AGENTS.length);
  });

  it('has every agent type the design names', () => {
    for (const t of ['split', 'discard', 'parse', 'validate', 'classify', 'filter', 'sample', 'aggregate', 'metric', 'alarm', 'archive', 'custom']) expect(REGISTRY.has(t), t).toBe(true);
  });

  it('has a test file per agent that runs the shared compliance check', () => {
    for (const a of AGENTS) {
      const candidates = fs.readdirSync(path.resolve(import.meta.dirname)).filter((f) => f === `${a.type}.test.ts` || f.startsWith(`${a.type}-`) || f.startsWith(`${a.type}.`));
      const text = candidates.map((f) => fs.readFileSync(path.resolve(import.meta.dirname, f), 'utf8')).join('\n');
      expect(text, `no test of ${a.type} calls checkAgentCompliance`).toMatch(new RegExp(`checkAgentCompliance\\(\\s*${a.type}\\b`));
    }
  });
});
