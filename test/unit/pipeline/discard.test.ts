import { describe, expect, it } from 'vitest';
import { discard } from '../../../pipeline/agents/discard.js';
import { build, checkAgentCompliance, makeRecord, run } from './agent-harness.js';

describe('discard agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(discard, {}, [makeRecord('x')]);
  });

  it('emits nothing', async () => {
    const { runtime } = await build(discard, { reason: 'noise' });
    const out = await run(runtime, [makeRecord('a'), makeRecord('b')]);
    expect(out.all()).toHaveLength(0);
  });
});
