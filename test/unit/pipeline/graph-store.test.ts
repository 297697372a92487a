import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStream, FileProvisioningStore } from '../../../control/store.js';
import { applyGraph, assignStreams, deleteGraph, unassignedStreams } from '../../../pipeline/graph/graph-store.js';

describe('graphs in the provisioning store', () => {
  let dir: string;
  let store: FileProvisioningStore;

  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-graphs-'));
    store = await FileProvisioningStore.open(dir);
    for (const s of ['web', 'api', 'db']) await createStream(store, { name: s, provider: 'acme' });
  });

  afterEach(async () => {
    await store.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const graph = (streams: string[], reason = 'x') => ({ name: 'g', streams, nodes: [{ id: 'drop', type: 'discard', inputs: ['source'], config: { reason } }] });

  it('commits a new version per change, none for an unchanged definition', async () => {
    expect((await applyGraph(store, graph(['web']))).version).toBe(1);
    expect((await applyGraph(store, graph(['web']))).version).toBe(1);
    expect((await applyGraph(store, graph(['web'], 'y'))).version).toBe(2);
    expect(unassignedStreams(store.snapshot())).toEqual(['api', 'db']);
  });

  it('rejects an invalid graph with every problem, and commits nothing', async () => {
    const before = store.snapshot().version;
    await expect(applyGraph(store, { name: 'g', streams: ['nope'], nodes: [{ id: 'a', type: 'bogus', inputs: ['x'] }] })).rejects.toMatchObject({
      code: 'LOGFS_E_GRAPH_INVALID',
      message: expect.stringMatching(/unknown-stream[\s\S]*unknown-type/),
    });
    expect(store.snapshot().version).toBe(before);
  });

  it('reserves the default graph name', async () => {
    await expect(applyGraph(store, { ...graph(['web']), name: 'default' })).rejects.toThrow(/built-in/);
  });

  it('assigns more streams as a new version, and deletes', async () => {
    await applyGraph(store, graph(['web']));
    const spec = await assignStreams(store, 'g', ['api', 'web']);
    expect(spec.version).toBe(2);
    expect(spec.definition.streams).toEqual(['web', 'api']);
    await expect(assignStreams(store, 'missing', ['web'])).rejects.toMatchObject({ code: 'LOGFS_E_NOT_FOUND' });
    await deleteGraph(store, 'g');
    expect(store.snapshot().graphs).toEqual({});
    expect(unassignedStreams(store.snapshot())).toEqual(['api', 'db', 'web']);
  });
});
