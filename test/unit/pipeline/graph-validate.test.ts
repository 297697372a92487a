import { describe, expect, it } from 'vitest';
import { validateGraph, type GraphProblem } from '../../../pipeline/graph/graph-validate.js';
import { REGISTRY } from '../../../pipeline/registry.js';

const ok = {
  name: 'web',
  streams: ['nginx'],
  nodes: [
    { id: 'fan', type: 'split', inputs: ['source'], config: { outputs: ['a', 'b'] } },
    { id: 'drop-a', type: 'discard', inputs: ['fan.a'] },
    { id: 'drop-b', type: 'discard', inputs: ['fan.b'] },
  ],
};

function problems(def: unknown, known?: string[]): GraphProblem[] {
  const r = validateGraph(def, REGISTRY, known ? { knownStreams: new Set(known) } : {});
  return r.ok ? [] : r.problems;
}

describe('graph validation', () => {
  it('plans a valid graph in DAG order with resolved ports', () => {
    const r = validateGraph({ ...ok, nodes: [...ok.nodes].reverse() }, REGISTRY);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.plan.nodes.map((n) => n.id)).toEqual(['fan', 'drop-b', 'drop-a']);
    expect(r.plan.nodes.find((n) => n.id === 'drop-a')!.inputs).toEqual([{ from: 'fan', port: 'a' }]);
    expect(r.plan.phases).toEqual(['main']);
  });

  it('reports every problem at once, each with the node and the field', () => {
    const p = problems(
      {
        name: 'Bad Name',
        streams: ['nginx', 'ghost'],
        nodes: [
          { id: 'fan', type: 'split', inputs: ['source'], config: { outputs: ['a'] } },
          { id: 'x', type: 'no-such-agent', inputs: ['source'] },
          { id: 'y', type: 'discard', inputs: ['nowhere'] },
          { id: 'z', type: 'discard', inputs: ['source'], config: { reason: 'r', extra: true } },
          { id: 'z', type: 'discard', inputs: ['source'] },
        ],
      },
      ['nginx'],
    );
    const byCode = (c: string) => p.filter((x) => x.code === c);
    expect(byCode('invalid-name')).toHaveLength(1);
    expect(byCode('unknown-stream')[0]).toMatchObject({ field: 'streams.1' });
    expect(byCode('invalid-config').map((x) => x.node)).toEqual(expect.arrayContaining(['fan', 'z']));
    expect(byCode('invalid-config').find((x) => x.node === 'fan')!.field).toBe('config.outputs');
    expect(byCode('unknown-type')[0]).toMatchObject({ node: 'x', field: 'nodes.1.type' });
    expect(byCode('unknown-type')[0]!.message).toContain('split');
    expect(byCode('dangling-input')[0]).toMatchObject({ node: 'y', field: 'nodes.2.inputs.0' });
    expect(byCode('duplicate-id')[0]).toMatchObject({ node: 'z' });
  });

  it('finds cycles, unknown ports, sinks used as inputs and dead ends', () => {
    const p = problems({
      name: 'g',
      nodes: [
        { id: 'a', type: 'split', inputs: ['source', 'b.x'], config: { outputs: ['x', 'y'] } },
        { id: 'b', type: 'split', inputs: ['a.x'], config: { outputs: ['x', 'y'] } },
        { id: 'c', type: 'discard', inputs: ['a.nope'] },
        { id: 'd', type: 'discard', inputs: ['c'] },
        { id: 'e', type: 'split', inputs: ['source'], config: { outputs: ['p', 'q'] } },
      ],
    });
    const codes = p.map((x) => `${x.code}:${x.node}`);
    expect(codes).toEqual(expect.arrayContaining(['cycle:a', 'cycle:b', 'unknown-port:c', 'unknown-port:d', 'dead-end:e']));
    expect(p.find((x) => x.code === 'unknown-port' && x.node === 'c')!.message).toContain('x, y');
  });

  it('reports nodes that no path from the source reaches', () => {
    const p = problems({
      name: 'g',
      nodes: [
        { id: 'a', type: 'split', inputs: ['b.x'], config: { outputs: ['x', 'y'] } },
        { id: 'b', type: 'split', inputs: ['a.x'], config: { outputs: ['x', 'y'] } },
        { id: 'd', type: 'discard', inputs: ['source'] },
      ],
    });
    expect(p.filter((x) => x.code === 'cycle').map((x) => x.node).sort()).toEqual(['a', 'b']);
  });

  it('checks phases: known names, and records flow only forward', () => {
    const p = problems({
      name: 'g',
      phases: ['cheap', 'costly'],
      nodes: [
        { id: 'a', type: 'split', inputs: ['source'], config: { outputs: ['x', 'y'] }, phase: 'costly' },
        { id: 'b', type: 'discard', inputs: ['a.x'], phase: 'cheap' },
        { id: 'c', type: 'discard', inputs: ['a.y'], phase: 'later' },
        { id: 'd', type: 'discard', inputs: ['source'], phase: 'costly' },
      ],
    });
    expect(p.map((x) => `${x.code}:${x.node}`)).toEqual(expect.arrayContaining(['phase-order:b', 'unknown-phase:c', 'phase-order:d']));
  });

  it('rejects a definition of the wrong shape with the field named', () => {
    const p = problems({ name: 'g', nodes: [{ id: 'a', type: 'discard' }], extra: 1 });
    expect(p.map((x) => x.field)).toEqual(expect.arrayContaining(['nodes.0.inputs']));
    expect(p.some((x) => x.message.includes('extra'))).toBe(true);
  });
});
