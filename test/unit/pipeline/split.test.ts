import { describe, expect, it } from 'vitest';
import { split } from '../../../pipeline/agents/split.js';
import { build, checkAgentCompliance, makeRecord, run } from './agent-harness.js';

describe('split agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(split, { outputs: ['a', 'b'] }, [makeRecord('x'), makeRecord('y')]);
  });

  it('copies every record to every output, as separate objects', async () => {
    const { runtime } = await build(split, { outputs: ['a', 'b', 'c'] });
    const out = await run(runtime, [makeRecord('one'), makeRecord('two')]);
    for (const p of ['a', 'b', 'c']) expect(out.on(p).map((r) => r.data.toString())).toEqual(['one', 'two']);
    out.on('a')[0]!.fields.x = 1;
    expect(out.on('b')[0]!.fields.x).toBeUndefined();
  });

  it('rejects fewer than two outputs and duplicate names', () => {
    expect(split.configSchema.safeParse({ outputs: ['a'] }).success).toBe(false);
    expect(split.configSchema.safeParse({ outputs: ['a', 'a'] }).success).toBe(false);
  });
});
