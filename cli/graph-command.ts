/**
 * `logfsctl graph …` and `logfsctl pipeline run`: define, check, apply, inspect and dry-run
 * processing graphs, and run a pipeline worker in the foreground.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import YAML from 'yaml';
import pino from 'pino';
import { LogfsError } from '../core/errors.js';
import { processAlive } from '../core/process-alive.js';
import { FileProvisioningStore } from '../control/store.js';
import { GraphRuntime, type NodeStats } from '../pipeline/engine.js';
import { applyGraph, assignStreams, DEFAULT_GRAPH, defaultGraphDefinition, deleteGraph, planGraph, unassignedStreams } from '../pipeline/graph/graph-store.js';
import { validateGraph } from '../pipeline/graph/graph-validate.js';
import { DryRunServices } from '../pipeline/dry-run-services.js';
import { fromLogRecord } from '../pipeline/record.js';
import { AGENTS, REGISTRY } from '../pipeline/registry.js';
import type { GraphStatus, WorkerStatsFile } from '../pipeline/worker.js';

interface Common {
  data: string;
}

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

export async function readDefinitionFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? fs.readFileSync(0, 'utf8') : await fsp.readFile(file, 'utf8');
  } catch (cause) {
    throw new LogfsError('LOGFS_E_CONFIG', `cannot read graph file ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (cause) {
    throw new LogfsError('LOGFS_E_CONFIG', `graph file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(cause as Error).message}`, { cause });
  }
}

/** Stats files of workers that are alive (same host: by pid; others: updated in the last 15 s). */
export async function liveWorkerStats(dataDir: string): Promise<WorkerStatsFile[]> {
  const dir = path.join(dataDir, 'pipeline', 'stats');
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const files: WorkerStatsFile[] = [];
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    try {
      const f = JSON.parse(await fsp.readFile(path.join(dir, n), 'utf8')) as WorkerStatsFile;
      const fresh = Date.now() - Date.parse(f.updatedAt) < 15_000;
      // A pid means something only on the host that wrote the file.
      if (fresh || (f.host === os.hostname() && processAlive(f.pid))) files.push(f);
    } catch {
      // being replaced right now, or left half-written by a crash: skip it
    }
  }
  return files;
}

function graphStatuses(workers: WorkerStatsFile[], name: string): (GraphStatus & { workerId: string })[] {
  return workers.flatMap((w) => w.graphs.filter((g) => g.name === name).map((g) => ({ ...g, workerId: w.workerId })));
}

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (typeof c === 'number' ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function sumNodeStats(statuses: GraphStatus[]): Map<string, NodeStats> {
  const sum = new Map<string, NodeStats>();
  for (const s of statuses) {
    for (const [id, n] of Object.entries(s.stats?.nodes ?? {})) {
      const t = sum.get(id) ?? { type: n.type, recordsIn: 0, bytesIn: 0, out: {}, unrouted: 0, cpuMicros: 0, errors: 0 };
      t.recordsIn += n.recordsIn;
      t.bytesIn += n.bytesIn;
      t.unrouted += n.unrouted;
      t.cpuMicros += n.cpuMicros;
      t.errors += n.errors;
      for (const [p, c] of Object.entries(n.out)) t.out[p] = (t.out[p] ?? 0) + c;
      sum.set(id, t);
    }
  }
  return sum;
}

async function validateCommand(argv: Common & { file: string; json: boolean }): Promise<void> {
  const def = await readDefinitionFile(argv.file);
  // Stream names are checked when the store is there (on a host with logFS provisioned).
  const storeFile = path.join(argv.data, 'provisioning.json');
  const known = fs.existsSync(storeFile) ? new Set(Object.keys((await FileProvisioningStore.open(argv.data)).snapshot().streams)) : undefined;
  const result = validateGraph(def, REGISTRY, known ? { knownStreams: known } : {});
  if (argv.json) out(JSON.stringify({ ok: result.ok, problems: result.problems }, null, 2));
  else if (result.ok) out(`graph ${result.plan.name} is valid: ${result.plan.nodes.length} nodes, streams ${result.plan.streams.join(', ') || '(none yet)'}`);
  else for (const p of result.problems) out(`${p.node ? `${p.node}` : '-'}\t${p.field ?? '-'}\t${p.code}\t${p.message}`);
  if (!result.ok) process.exitCode = 1;
}

async function waitForVersion(argv: Common, name: string, version: number, timeoutS: number): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const statuses = graphStatuses(await liveWorkerStats(argv.data), name);
    const running = statuses.filter((s) => s.version === version && s.state === 'running');
    if (running.length > 0) return out(`version ${version} is running on ${running.length} worker${running.length === 1 ? '' : 's'}`);
    const rejected = statuses.find((s) => s.error?.startsWith(`version ${version} rejected`));
    if (rejected) throw new LogfsError('LOGFS_E_AGENT', `worker ${rejected.workerId}: ${rejected.error}`);
    if (Date.now() > deadline) throw new LogfsError('LOGFS_E_AGENT', `no worker runs version ${version} of ${name} after ${timeoutS}s (is a pipeline worker running? logfsctl up or logfsctl pipeline run)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function showCommand(argv: Common & { name: string; stats: boolean; json: boolean }): Promise<void> {
  const store = await FileProvisioningStore.open(argv.data);
  const state = store.snapshot();
  const spec = state.graphs[argv.name] ?? (argv.name === DEFAULT_GRAPH ? { name: DEFAULT_GRAPH, version: state.version, definition: defaultGraphDefinition(unassignedStreams(state)), updatedAt: '' } : undefined);
  if (!spec) throw new LogfsError('LOGFS_E_NOT_FOUND', `graph "${argv.name}" does not exist`);
  const statuses = argv.stats ? graphStatuses(await liveWorkerStats(argv.data), argv.name) : [];
  if (argv.json) return out(JSON.stringify({ ...spec, ...(argv.stats ? { workers: statuses } : {}) }, null, 2));
  out(`# graph ${spec.name}, version ${spec.version}${spec.updatedAt ? `, updated ${spec.updatedAt}` : ''}`);
  out(YAML.stringify(spec.definition).trimEnd());
  if (!argv.stats) return;
  out('');
  if (statuses.length === 0) return out('no running worker reports this graph');
  for (const s of statuses) out(`worker ${s.workerId}: version ${s.version} ${s.state}${s.error ? ` (${s.error})` : ''}`);
  const nodes = sumNodeStats(statuses);
  const rows: (string | number)[][] = [['NODE', 'TYPE', 'IN', 'OUT', 'UNROUTED', 'BYTES IN', 'CPU ms', 'µs/rec', 'ERRORS']];
  for (const [id, n] of nodes) {
    const outs = Object.entries(n.out).map(([p, c]) => `${p}=${c}`).join(',') || '-';
    rows.push([id, n.type, n.recordsIn, outs, n.unrouted, n.bytesIn, Math.round(n.cpuMicros / 1000), n.recordsIn ? +(n.cpuMicros / n.recordsIn).toFixed(2) : 0, n.errors]);
  }
  out(table(rows));
  const streams = new Map<string, { records: number; bytes: number }>();
  for (const s of statuses) for (const [name, v] of Object.entries(s.stats?.streams ?? {})) {
    const t = streams.get(name) ?? { records: 0, bytes: 0 };
    t.records += v.records;
    t.bytes += v.bytes;
    streams.set(name, t);
  }
  out('');
  out(table([['STREAM', 'RECORDS', 'BYTES'], ...[...streams].map(([n, v]) => [n, v.records, v.bytes])]));
}

async function listCommand(argv: Common & { json: boolean }): Promise<void> {
  const state = (await FileProvisioningStore.open(argv.data)).snapshot();
  const workers = await liveWorkerStats(argv.data);
  const rows = Object.values(state.graphs).map((g) => ({
    name: g.name,
    version: g.version,
    streams: (g.definition.streams as string[] | undefined) ?? [],
    nodes: ((g.definition.nodes as unknown[] | undefined) ?? []).length,
    states: graphStatuses(workers, g.name).map((s) => `${s.state}@v${s.version}`),
  }));
  const rest = unassignedStreams(state);
  if (rest.length > 0) rows.push({ name: DEFAULT_GRAPH, version: state.version, streams: rest, nodes: 1, states: graphStatuses(workers, DEFAULT_GRAPH).map((s) => `${s.state}@v${s.version}`) });
  if (argv.json) return out(JSON.stringify(rows, null, 2));
  out(table([['GRAPH', 'VERSION', 'NODES', 'WORKERS', 'STREAMS'], ...rows.map((r) => [r.name, r.version, r.nodes, r.states.join(',') || '-', r.streams.join(',') || '-'])]));
}

async function testCommand(argv: Common & { target: string; input: string; stream?: string; class?: string; json: boolean }): Promise<void> {
  const state = fs.existsSync(path.join(argv.data, 'provisioning.json')) ? (await FileProvisioningStore.open(argv.data)).snapshot() : undefined;
  // NAME of a committed graph, or a FILE not yet applied.
  const definition = state?.graphs[argv.target]?.definition ?? (await readDefinitionFile(argv.target));
  const plan = planGraph(definition);
  const services = new DryRunServices();
  const emitted: { node: string; port: string; data: string; class: string | null; fields: Record<string, unknown>; flags: string[] }[] = [];
  const runtime = await GraphRuntime.create(plan, {
    version: 0,
    services,
    log: pino({ level: 'warn' }, pino.destination(2)),
    trace: (node, port, r) => emitted.push({ node, port, data: r.data.toString('utf8'), class: r.class, fields: { ...r.fields }, flags: [...r.flags] }),
  });
  const lines = (await fsp.readFile(argv.input, 'utf8')).split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
  const stream = argv.stream ?? plan.streams[0] ?? 'test';
  const now = Date.now();
  const records = lines.map((line, i) =>
    fromLogRecord({ v: 1, provider: state?.streams[stream]?.provider ?? 'default', stream, class: argv.class ?? null, instance: 'graph-test', host: 'graph-test', seq: i + 1, ts: now + i, source: 'fuse', data: Buffer.from(line) }),
  );
  await runtime.runBatch([{ from: 'source', port: 'out', records }], now + lines.length);
  await runtime.drain(now + lines.length);
  await runtime.close();
  if (argv.json) {
    out(JSON.stringify({ emitted, archived: services.archived.map((a) => ({ archive: a.archive, id: a.record.id, data: a.record.data.toString() })), metrics: services.points, alarms: services.alarmEvents, relayed: services.relayed }, null, 2));
    return;
  }
  for (const e of emitted) {
    const extra = [Object.keys(e.fields).length ? JSON.stringify(e.fields) : '', e.flags.length ? `[${e.flags.join(',')}]` : '', e.class ? `class=${e.class}` : ''].filter(Boolean).join(' ');
    out(`${`${e.node}.${e.port}`.padEnd(20)} ${e.data}${extra ? `  ${extra}` : ''}`);
  }
  out('');
  out(`${lines.length} lines in; archived ${services.archived.length}; metric points ${services.points.length}; alarms ${services.alarmEvents.length}; relayed ${services.relayed.length}`);
}

function agentsCommand(argv: { json: boolean }): void {
  const list = AGENTS.map((a) => {
    const shape = (a.configSchema as unknown as { shape?: Record<string, { description?: string }> }).shape ?? {};
    return { type: a.type, description: a.description, sink: a.sink, options: Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, v.description ?? ''])) };
  });
  if (argv.json) return out(JSON.stringify(list, null, 2));
  for (const a of list) {
    out(`${a.type.padEnd(10)} ${a.description}`);
    for (const [k, d] of Object.entries(a.options)) out(`    ${k.padEnd(20)} ${d}`);
  }
}

export const graphCommand: CommandModule<Common, Common> = {
  command: 'graph',
  describe: 'Define, check, apply and inspect processing graphs',
  builder: (y: Argv<Common>) =>
    y
      .command('validate <file>', 'Check a graph file; every problem is printed (node, field, code, message)', (yy) => yy.positional('file', { type: 'string', demandOption: true }).option('json', { type: 'boolean', default: false }), (a) => validateCommand(a as never))
      .command(
        'apply <file>',
        'Validate and commit a graph as a new version; running workers switch to it live',
        (yy) => yy.positional('file', { type: 'string', demandOption: true }).option('wait', { type: 'number', describe: 'Wait up to N seconds until a worker runs the new version' }),
        async (a) => {
          const spec = await applyGraph(await FileProvisioningStore.open(a.data), await readDefinitionFile(a.file as string));
          out(`graph ${spec.name} version ${spec.version} committed`);
          if (a.wait !== undefined) await waitForVersion(a, spec.name, spec.version, a.wait);
        },
      )
      .command('show <name>', 'Print a graph (and with --stats its per-agent and per-stream counters and CPU time)', (yy) => yy.positional('name', { type: 'string', demandOption: true }).option('stats', { type: 'boolean', default: false }).option('json', { type: 'boolean', default: false }), (a) => showCommand(a as never))
      .command('list', 'List graphs, their versions and where they run', (yy) => yy.option('json', { type: 'boolean', default: false }), (a) => listCommand(a as never))
      .command(
        'delete <name>',
        'Delete a graph (its streams go back to the default graph)',
        (yy) => yy.positional('name', { type: 'string', demandOption: true }),
        async (a) => {
          await deleteGraph(await FileProvisioningStore.open(a.data), a.name as string);
          out(`deleted graph ${a.name}`);
        },
      )
      .command(
        'assign <name> <streams..>',
        'Let a graph take more streams (a new version)',
        (yy) => yy.positional('name', { type: 'string', demandOption: true }).positional('streams', { type: 'string', array: true, demandOption: true }),
        async (a) => {
          const spec = await assignStreams(await FileProvisioningStore.open(a.data), a.name as string, a.streams as string[]);
          out(`graph ${spec.name} version ${spec.version} takes ${((spec.definition.streams as string[]) ?? []).join(', ')}`);
        },
      )
      .command(
        'test <target>',
        'Dry-run a graph (NAME or FILE) on sample lines and print what each agent emits; nothing is stored',
        (yy) =>
          yy
            .positional('target', { type: 'string', demandOption: true })
            .option('input', { type: 'string', demandOption: true, describe: 'File of sample lines' })
            .option('stream', { type: 'string', describe: 'Stream the lines belong to (default: the graph\'s first)' })
            .option('class', { type: 'string', describe: 'Class label of the lines' })
            .option('json', { type: 'boolean', default: false }),
        (a) => testCommand(a as never),
      )
      .command('agents', 'List agent types and their options', (yy) => yy.option('json', { type: 'boolean', default: false }), (a) => agentsCommand(a as never))
      .demandCommand(1, 'name a graph command: validate, apply, show, list, delete, assign, test or agents'),
  handler: () => {},
};
