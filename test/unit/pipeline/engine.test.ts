import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LogfsError } from '../../../core/errors.js';
import { defineAgent, type AgentDefinition } from '../../../pipeline/agent.js';
import { GraphRuntime, type PhaseBoundary } from '../../../pipeline/engine.js';
import { validateGraph } from '../../../pipeline/graph/graph-validate.js';
import { derivedRecord, type PipelineRecord } from '../../../pipeline/record.js';
import { REGISTRY } from '../../../pipeline/registry.js';
import { makeRecord, MemoryServices } from './agent-harness.js';

const log = pino({ level: 'silent' });
const Empty = z.strictObject({});

/** A sink that records what it got and how often flush was asked; it can fail its first flushes. */
function sinkAgent(store: { got: string[]; flushes: number; failFirst: number; fatal?: boolean }): AgentDefinition<object> {
  return defineAgent({
    type: 'test-sink',
    description: 'test sink that records data',
    configSchema: Empty,
    ports: () => [],
    sink: true,
    create: () => {
      let buffered: string[] = [];
      return {
        process(batch) {
          for (const r of batch) buffered.push(`${r.data}${r.fields.tag ? `+${String(r.fields.tag)}` : ''}`);
        },
        async flush() {
          store.flushes++;
          if (store.failFirst > 0) {
            store.failFirst--;
            throw new LogfsError('LOGFS_E_ARCHIVE_IO', 'disk busy', { retriable: !store.fatal });
          }
          store.got.push(...buffered);
          buffered = [];
        },
      };
    },
  });
}

const tagger = defineAgent({
  type: 'test-tag',
  description: 'test agent that tags records and throws on "boom"',
  configSchema: z.strictObject({ tag: z.string().describe('tag') }),
  ports: () => ['out'],
  sink: false,
  create: (c) => ({
    process(batch: PipelineRecord[], out) {
      for (const r of batch) if (r.data.toString() === 'boom') throw new Error('cannot tag boom');
      for (const r of batch) {
        r.fields.tag = c.tag;
        out.emit('out', r);
      }
    },
  }),
});

const windowed = defineAgent({
  type: 'test-window',
  description: 'test agent that counts and emits the count on drain only',
  configSchema: Empty,
  ports: () => ['out'],
  sink: false,
  create: (_c, ctx) => {
    let n = 0;
    return {
      process(batch) {
        n += batch.length;
      },
      drain(out) {
        out.emit('out', derivedRecord({ id: `${ctx.nodeId}:w`, kind: 'aggregate', like: makeRecord(''), ts: 0, data: `count=${n}`, fields: {} }));
      },
    };
  },
});

async function runtimeFor(nodes: unknown[], extra: AgentDefinition<any>[], phase?: string, boundary?: PhaseBoundary, phases?: string[]) {
  const registry = new Map([...REGISTRY, ...extra.map((a) => [a.type, a] as const)]);
  const r = validateGraph({ name: 'g', nodes, ...(phases ? { phases } : {}) }, registry);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return GraphRuntime.create(r.plan, { version: 7, services: new MemoryServices(), log, ...(phase ? { phase } : {}), ...(boundary ? { boundary } : {}) });
}

describe('graph runtime', () => {
  it('runs records through the DAG; branches get separate copies', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 0 };
    const b = { got: [] as string[], flushes: 0, failFirst: 0 };
    const sinkA = sinkAgent(a);
    const sinkB = { ...sinkAgent(b), type: 'test-sink-b' };
    const rt = await runtimeFor(
      [
        { id: 'tag', type: 'test-tag', inputs: ['source'], config: { tag: 'x' } },
        { id: 'sa', type: 'test-sink', inputs: ['tag'] },
        { id: 'sb', type: 'test-sink-b', inputs: ['source'] },
      ],
      [tagger, sinkA, sinkB],
    );
    await rt.runBatch([{ from: 'source', port: 'out', records: [makeRecord('one'), makeRecord('two')] }]);
    expect(a.got).toEqual(['one+x', 'two+x']);
    // sb took the source too, but the tag set on tag's copy must not show in its copy.
    expect(b.got).toEqual(['one', 'two']);
    const s = rt.stats();
    expect(s.nodes.tag!.recordsIn).toBe(2);
    expect(s.nodes.tag!.out.out).toBe(2);
    expect(s.streams.web).toEqual({ records: 2, bytes: 6 });
    expect(s.batches).toBe(1);
  });

  it('lets agents that only read share a record; the others get copies, and no change reaches a reader', async () => {
    const seen: { node: string; record: PipelineRecord; view: string }[] = [];
    const reader = (type: string): AgentDefinition<object> =>
      defineAgent({
        type,
        description: 'test reader that notes what it saw',
        configSchema: Empty,
        ports: () => [],
        sink: true,
        readsOnly: true,
        create: (_c, ctx) => ({
          process(batch) {
            for (const r of batch) seen.push({ node: ctx.nodeId, record: r, view: `${r.data}${r.fields.tag ? `+${String(r.fields.tag)}` : ''}` });
          },
        }),
      });
    const got = { got: [] as string[], flushes: 0, failFirst: 0 };
    const rt = await runtimeFor(
      [
        // In DAG order: a writer before the readers, the readers, a writer after them.
        { id: 'early', type: 'test-tag', inputs: ['source'], config: { tag: 'early' } },
        { id: 'r1', type: 'test-reader-1', inputs: ['source'] },
        { id: 'r2', type: 'test-reader-2', inputs: ['source'] },
        { id: 'late', type: 'test-tag', inputs: ['source'], config: { tag: 'late' } },
        { id: 'r3', type: 'test-reader-1', inputs: ['early'] },
        { id: 'sink', type: 'test-sink', inputs: ['late'] },
      ],
      [tagger, reader('test-reader-1'), reader('test-reader-2'), sinkAgent(got)],
    );
    const input = [makeRecord('one'), makeRecord('two')];
    await rt.runBatch([{ from: 'source', port: 'out', records: input }]);
    const of = (node: string) => seen.filter((s) => s.node === node);
    expect(of('r1').map((s) => s.view)).toEqual(['one', 'two']);
    expect(of('r2').map((s) => s.view)).toEqual(['one', 'two']);
    expect(of('r3').map((s) => s.view)).toEqual(['one+early', 'two+early']);
    expect(got.got).toEqual(['one+late', 'two+late']);
    // The readers shared the source's objects (with the writer that runs after them); the early writer had copies.
    expect(of('r1').map((s) => s.record)).toEqual(of('r2').map((s) => s.record));
    expect(of('r1')[0]!.record).toBe(input[0]);
    expect(of('r3')[0]!.record).not.toBe(input[0]);
    expect(input[0]!.fields.tag).toBe('late');
  });

  it('flags a copy when an agent that only reads throws on a shared record', async () => {
    const seen: string[] = [];
    const reader = defineAgent({
      type: 'test-reader-sees',
      description: 'test reader that notes flags',
      configSchema: Empty,
      ports: () => [],
      sink: true,
      readsOnly: true,
      create: () => ({
        process(batch) {
          for (const r of batch) seen.push(`${r.data}:${r.flags.join(',')}`);
        },
      }),
    });
    const thrower = defineAgent({
      type: 'test-reader-throws',
      description: 'test reader with an output that throws on "boom"',
      configSchema: Empty,
      ports: () => ['out'],
      sink: true,
      readsOnly: true,
      create: () => ({
        process(batch) {
          for (const r of batch) if (r.data.toString() === 'boom') throw new Error('cannot read boom');
        },
      }),
    });
    const got = { got: [] as string[], flushes: 0, failFirst: 0 };
    const rt = await runtimeFor(
      [
        { id: 'throws', type: 'test-reader-throws', inputs: ['source'] },
        { id: 'sees', type: 'test-reader-sees', inputs: ['source'] },
        { id: 'errors', type: 'test-sink', inputs: ['throws'] },
      ],
      [thrower, reader, sinkAgent(got)],
    );
    const input = [makeRecord('ok'), makeRecord('boom')];
    await rt.runBatch([{ from: 'source', port: 'out', records: input }]);
    expect(seen).toEqual(['ok:', 'boom:']);
    expect(input[1]!.flags).toEqual([]);
    expect(rt.stats().nodes.throws!.errors).toBe(1);
  });

  it('charges each node the CPU time it took', async () => {
    const busy = defineAgent({
      type: 'test-busy',
      description: 'test agent that spins for 40 ms per batch',
      configSchema: Empty,
      ports: () => ['out'],
      sink: false,
      create: () => ({
        process(batch: PipelineRecord[], out) {
          const until = performance.now() + 40;
          while (performance.now() < until);
          for (const r of batch) out.emit('out', r);
        },
      }),
    });
    const got = { got: [] as string[], flushes: 0, failFirst: 0 };
    const rt = await runtimeFor(
      [
        { id: 'busy', type: 'test-busy', inputs: ['source'] },
        { id: 'sink', type: 'test-sink', inputs: ['busy'] },
      ],
      [busy, sinkAgent(got)],
    );
    await rt.runBatch([{ from: 'source', port: 'out', records: [makeRecord('one')] }]);
    const { nodes } = rt.stats();
    expect(nodes.busy!.cpuMicros).toBeGreaterThan(20_000);
    expect(nodes.sink!.cpuMicros).toBeLessThan(nodes.busy!.cpuMicros / 10);
  });

  it('runs a batch given in parts one part after the other, and flushes the sinks once, after the last', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 0 };
    const rt = await runtimeFor(
      [
        { id: 'tag', type: 'test-tag', inputs: ['source'], config: { tag: 'x' } },
        { id: 's', type: 'test-sink', inputs: ['tag'] },
      ],
      [tagger, sinkAgent(a)],
    );
    const taken: number[] = [];
    function* parts() {
      for (let n = 0; n < 3; n++) {
        // The part before this one has been through every node already.
        taken.push(rt.stats().nodes.s!.recordsIn);
        yield [{ from: 'source', port: 'out', records: [makeRecord(`p${n}a`), makeRecord(`p${n}b`)] }];
      }
    }
    await rt.runBatchInParts(parts());
    expect(taken).toEqual([0, 2, 4]);
    expect(a.flushes).toBe(1);
    expect(a.got).toEqual(['p0a+x', 'p0b+x', 'p1a+x', 'p1b+x', 'p2a+x', 'p2b+x']);
    expect(rt.stats()).toMatchObject({ batches: 1, streams: { web: { records: 6 } } });
  });

  it('resolves a batch only after a failing sink flush succeeded on retry', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 2 };
    const rt = await runtimeFor([{ id: 's', type: 'test-sink', inputs: ['source'] }], [sinkAgent(a)]);
    await rt.runBatch([{ from: 'source', port: 'out', records: [makeRecord('r')] }]);
    expect(a.flushes).toBe(3);
    expect(a.got).toEqual(['r']);
    expect(rt.stats().nodes.s!.errors).toBe(2);
  });

  it('fails the batch when a sink fails for good', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 1, fatal: true };
    const rt = await runtimeFor([{ id: 's', type: 'test-sink', inputs: ['source'] }], [sinkAgent(a)]);
    await expect(rt.runBatch([{ from: 'source', port: 'out', records: [makeRecord('r')] }])).rejects.toMatchObject({ code: 'LOGFS_E_AGENT' });
  });

  it('passes records an agent throws on, flagged, and the rest normally', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 0 };
    const rt = await runtimeFor(
      [
        { id: 'tag', type: 'test-tag', inputs: ['source'], config: { tag: 'x' } },
        { id: 's', type: 'test-sink', inputs: ['tag'] },
      ],
      [tagger, sinkAgent(a)],
    );
    await rt.runBatch([{ from: 'source', port: 'out', records: [makeRecord('ok'), makeRecord('boom'), makeRecord('fine')] }]);
    expect(a.got).toEqual(['ok+x', 'boom', 'fine+x']);
    expect(rt.stats().nodes.tag!.errors).toBe(1);
  });

  it('drain emits open windows through the rest of the graph', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 0 };
    const rt = await runtimeFor(
      [
        { id: 'w', type: 'test-window', inputs: ['source'] },
        { id: 's', type: 'test-sink', inputs: ['w'] },
      ],
      [windowed, sinkAgent(a)],
    );
    await rt.runBatch([{ from: 'source', port: 'out', records: [makeRecord('1'), makeRecord('2'), makeRecord('3')] }]);
    expect(a.got).toEqual([]);
    await rt.drain();
    expect(a.got).toEqual(['count=3']);
    await rt.close();
    await expect(rt.runBatch([])).rejects.toMatchObject({ code: 'LOGFS_E_SHUTTING_DOWN' });
  });

  it('in a phase, sends what later phases take to the boundary and accepts edge batches', async () => {
    const sent: string[] = [];
    let boundaryFlushes = 0;
    const boundary: PhaseBoundary = {
      send: (from, port, records) => void sent.push(...records.map((r) => `${from}.${port}:${r.data}`)),
      flush: async () => void boundaryFlushes++,
    };
    const a = { got: [] as string[], flushes: 0, failFirst: 0 };
    const nodes = [
      { id: 'tag', type: 'test-tag', inputs: ['source'], config: { tag: 'x' }, phase: 'one' },
      { id: 's', type: 'test-sink', inputs: ['tag'], phase: 'two' },
    ];
    const first = await runtimeFor(nodes, [tagger, sinkAgent(a)], 'one', boundary, ['one', 'two']);
    await first.runBatch([{ from: 'source', port: 'out', records: [makeRecord('p')] }]);
    expect(sent).toEqual(['tag.out:p']);
    expect(boundaryFlushes).toBe(1);
    const second = await runtimeFor(nodes, [tagger, sinkAgent(a)], 'two', undefined, ['one', 'two']);
    await second.runBatch([{ from: 'tag', port: 'out', records: [makeRecord('q')] }]);
    expect(a.got).toEqual(['q']);
  });
});

describe('graph runtime: a batch retried record by record', () => {
  it('takes back what the failed call emitted, so nothing downstream sees a record twice', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 0 };
    // Emits each record, then throws at "boom": the first call emitted "ok" before failing.
    const emitsThenThrows = defineAgent({
      type: 'test-emit-throw',
      description: 'test agent that emits before throwing',
      configSchema: Empty,
      ports: () => ['out'],
      sink: false,
      create: () => ({
        process(batch: PipelineRecord[], out) {
          for (const r of batch) {
            if (r.data.toString() === 'boom') throw new Error('boom');
            out.emit('out', r);
          }
        },
      }),
    });
    const rt = await runtimeFor(
      [
        { id: 'x', type: 'test-emit-throw', inputs: ['source'] },
        { id: 's', type: 'test-sink', inputs: ['x'] },
      ],
      [emitsThenThrows, sinkAgent(a)],
    );
    await rt.runBatch([{ from: 'source', port: 'out', records: [makeRecord('ok'), makeRecord('boom'), makeRecord('after')] }]);
    expect(a.got).toEqual(['ok', 'boom', 'after']);
  });

  it('counts records for an edge the version does not have instead of dropping them silently', async () => {
    const a = { got: [] as string[], flushes: 0, failFirst: 0 };
    const rt = await runtimeFor([{ id: 's', type: 'test-sink', inputs: ['source'] }], [sinkAgent(a)]);
    await rt.runBatch([{ from: 'gone', port: 'out', records: [makeRecord('x'), makeRecord('y')] }]);
    expect(rt.stats().unrouted).toBe(2);
  });
});
