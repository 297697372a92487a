/**
 * `logfsctl graph …`: define, check, apply and inspect processing graphs through the control API
 * (cli/provision-commands.ts), and dry-run them here on sample lines.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import YAML from 'yaml';
import pino from 'pino';
import { LogfsError } from '../core/errors.js';
import { GraphRuntime } from '../pipeline/engine.js';
import { planGraph } from '../pipeline/graph/graph-store.js';
import { DryRunServices } from '../pipeline/dry-run-services.js';
import { fromLogRecord } from '../pipeline/record.js';
import { AGENTS } from '../pipeline/registry.js';
import { withApi, type ApiFlags } from './api-connection.js';
import { seg, type GraphView } from './control-client.js';
import { graphApiCommands } from './provision-commands.js';

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

async function testCommand(argv: ApiFlags & { target: string; input: string; stream?: string; class?: string; json: boolean }): Promise<void> {
  // A FILE not yet applied, or the NAME of a committed graph.
  const committed = fs.existsSync(argv.target) ? undefined : await withApi(argv, (c) => c.request<GraphView>('GET', `/graphs/${seg(argv.target)}`));
  const definition = committed?.definition ?? (await readDefinitionFile(argv.target));
  const plan = planGraph(definition);
  const stream = argv.stream ?? plan.streams[0] ?? 'test';
  const provider = committed?.provider ?? 'default';
  const services = new DryRunServices();
  const emitted: { node: string; port: string; data: string; class: string | null; fields: Record<string, unknown>; flags: string[] }[] = [];
  const runtime = await GraphRuntime.create(plan, {
    version: 0,
    services,
    log: pino({ level: 'warn' }, pino.destination(2)),
    trace: (node, port, r) => emitted.push({ node, port, data: r.data.toString('utf8'), class: r.class, fields: { ...r.fields }, flags: [...r.flags] }),
  });
  const lines = (await fsp.readFile(argv.input, 'utf8')).split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
  const now = Date.now();
  const records = lines.map((line, i) =>
    fromLogRecord({ v: 1, provider, stream, class: argv.class ?? null, instance: 'graph-test', host: 'graph-test', seq: i + 1, ts: now + i, source: 'fuse', data: Buffer.from(line) }),
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

export const graphCommand: CommandModule<ApiFlags, ApiFlags> = {
  command: 'graph',
  describe: 'Define, check, apply and inspect processing graphs',
  builder: (y: Argv<ApiFlags>) =>
    graphApiCommands(y)
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
