/**
 * The provisioning commands of logfsctl — streams, graphs, providers, tokens, jobs, history and
 * rollback — all through the control API (cli/api-connection.ts), so they behave the same against
 * this host and a remote cluster. A change prints its job and waits until it is active (every live
 * daemon and worker applied it) or failed.
 */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import YAML from 'yaml';
import { LogfsError } from '../core/errors.js';
import { readRuntime } from '../daemon/daemon.js';
import { withApi, type ApiFlags } from './api-connection.js';
import { seg, type CommitInfo, type ControlClient, type GraphProblemView, type GraphView, type JobView, type StreamView } from './control-client.js';
import { readDefinitionFile } from './graph-command.js';

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (typeof c === 'number' ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

interface WaitFlags {
  wait: boolean;
  json?: boolean;
}

/** Adds the options every command that changes something has. */
function changeOptions<T>(y: Argv<T>): Argv<T & WaitFlags> {
  return y
    .option('wait', { type: 'boolean', default: true, describe: 'Wait until the change is active on every live host and worker (--no-wait: return once committed)' })
    .option('json', { type: 'boolean', default: false, describe: 'Print the job as JSON' }) as Argv<T & WaitFlags>;
}

export function describeJob(job: JobView): string {
  const delay = job.propagation.delayMs === null ? '' : `, applied everywhere in ${job.propagation.delayMs} ms`;
  const members = job.propagation.members.length;
  const where = members === 0 ? '' : ` (${members} member${members === 1 ? '' : 's'}${delay})`;
  return `job ${job.id} ${job.state}${job.version === null ? '' : ` at version ${job.version}`}${where}${job.reason ? `: ${job.reason}` : ''}`;
}

/** Prints a job once it is final (or committed, with --no-wait); a failed job fails the command. */
async function finishJob(client: ControlClient, started: JobView, flags: WaitFlags, what: string): Promise<JobView> {
  const job = flags.wait ? await client.waitForJob(started) : started;
  if (flags.json) out(JSON.stringify(job, null, 2));
  else out(`${what}: ${describeJob(job)}`);
  if (job.state === 'failed') throw new LogfsError('LOGFS_E_CONFIG', `${what} failed: ${job.reason ?? 'no reason given'}`, { context: { job: job.id } });
  if (flags.wait && job.state !== 'active') process.stderr.write(`logfsctl: job ${job.id} is still ${job.state}; follow it with: logfsctl jobs ${job.id}\n`);
  return job;
}

function printProblems(problems: GraphProblemView[]): void {
  for (const p of problems) out(`${p.node ?? '-'}\t${p.path || '-'}\t${p.code}\t${p.message}`);
}

/** A LogfsError from the API that carries graph problems prints them one per line. */
async function reportingProblems<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const problems = (err as LogfsError).context?.problems as GraphProblemView[] | undefined;
    if (err instanceof LogfsError && Array.isArray(problems)) {
      printProblems(problems);
      throw new LogfsError(err.code, err.message.split('\n')[0] ?? err.message);
    }
    throw err;
  }
}

type A<T = object> = ApiFlags & WaitFlags & T;

/** `--retention-hours`: a positive number of hours, or "none" (the broker's default applies). */
function retentionArg(value: string): number | null {
  if (value === 'none') return null;
  const hours = Number(value);
  if (!Number.isFinite(hours) || hours <= 0) throw new LogfsError('LOGFS_E_CONFIG', `--retention-hours must be a positive number of hours or "none", not "${value}"`);
  return hours;
}

export const streamCommand: CommandModule<ApiFlags, ApiFlags> = {
  command: 'stream',
  describe: 'Provision streams (through the control API)',
  builder: (y: Argv<ApiFlags>) =>
    y
      .command(
        'create <name>',
        'Create a stream (its topic is created with the given partitions)',
        (yy) =>
          changeOptions(yy)
            .positional('name', { type: 'string', demandOption: true })
            .option('partitions', { type: 'number' })
            .option('encrypt', { type: 'boolean', describe: 'Encrypt records on the host before they leave it (docs/encryption.md)' })
            .option('key', { type: 'string', describe: 'Base64 AES-256 key for --encrypt (default: one is generated)' })
            .option('rate', { type: 'number', describe: 'Estimated records per second' })
            .option('retention-hours', { type: 'number', describe: 'How long Kafka keeps the stream topic' })
            .option('description', { type: 'string' })
            .option('provider', { type: 'string', describe: 'Owner (admin tokens; default: the token\'s provider or "default")' }),
        (a) =>
          withApi(a, async (c) => {
            const argv = a as A<{ name: string; partitions?: number; encrypt?: boolean; key?: string; rate?: number; 'retention-hours'?: number; description?: string; provider?: string }>;
            // On a host, a stream is for the provider of its mount unless told otherwise.
            const provider = argv.provider ?? (await readRuntime(argv.data))?.provider;
            const body = {
              name: argv.name,
              ...(provider !== undefined ? { provider } : {}),
              ...(argv.partitions !== undefined ? { partitions: argv.partitions } : {}),
              ...(argv.encrypt !== undefined ? { encrypt: argv.encrypt } : {}),
              ...(argv.key !== undefined ? { key: argv.key } : {}),
              ...(argv.rate !== undefined ? { rate: argv.rate } : {}),
              ...(argv['retention-hours'] !== undefined ? { retentionHours: argv['retention-hours'] } : {}),
              ...(argv.description !== undefined ? { description: argv.description } : {}),
            };
            await finishJob(c, await c.request<JobView>('POST', '/streams', body), argv, `create stream ${argv.name}`);
          }),
      )
      .command(
        'update <name>',
        'Change a stream\'s attributes (partitions may only grow)',
        (yy) =>
          changeOptions(yy)
            .positional('name', { type: 'string', demandOption: true })
            .option('partitions', { type: 'number' })
            .option('encrypt', { type: 'boolean' })
            .option('key', { type: 'string' })
            .option('rate', { type: 'number' })
            .option('retention-hours', { type: 'string', describe: 'Hours Kafka keeps the stream topic, or "none" for the broker\'s default' })
            .option('description', { type: 'string' }),
        (a) =>
          withApi(a, async (c) => {
            const argv = a as A<{ name: string; partitions?: number; encrypt?: boolean; key?: string; rate?: number; 'retention-hours'?: string; description?: string }>;
            const patch = {
              ...(argv.partitions !== undefined ? { partitions: argv.partitions } : {}),
              ...(argv.encrypt !== undefined ? { encrypt: argv.encrypt } : {}),
              ...(argv.key !== undefined ? { key: argv.key } : {}),
              ...(argv.rate !== undefined ? { rate: argv.rate } : {}),
              ...(argv['retention-hours'] !== undefined ? { retentionHours: retentionArg(argv['retention-hours']) } : {}),
              ...(argv.description !== undefined ? { description: argv.description } : {}),
            };
            if (Object.keys(patch).length === 0) throw new LogfsError('LOGFS_E_CONFIG', 'name at least one attribute to change (--partitions, --encrypt, --key, --rate, --retention-hours, --description)');
            await finishJob(c, await c.request<JobView>('PATCH', `/streams/${seg(argv.name)}`, patch), argv, `update stream ${argv.name}`);
          }),
      )
      .command(
        'list',
        'List streams',
        (yy) => yy.option('json', { type: 'boolean', default: false }),
        (a) =>
          withApi(a, async (c) => {
            const streams = await c.request<StreamView[]>('GET', '/streams');
            if ((a as { json: boolean }).json) return out(JSON.stringify(streams, null, 2));
            out(table([['STREAM', 'PROVIDER', 'PART', 'ENCRYPT', 'GRAPHS', 'RECORDS', 'COST', 'TOPIC'], ...streams.map((s) => [s.name, s.provider, s.partitions, s.encrypt ? 'yes' : 'no', s.graphs.join(',') || 'default', s.usage.records, s.cost.toFixed(4), s.topic])]));
          }),
      )
      .command(
        'describe <name>',
        'Show one stream',
        (yy) => yy.positional('name', { type: 'string', demandOption: true }),
        (a) =>
          withApi(a, async (c) => {
            const s = await c.request<StreamView>('GET', `/streams/${seg(a.name as string)}`);
            // Where it is written on this host: the running mount shows only its provider's streams.
            const rt = await readRuntime(a.data);
            out(JSON.stringify({ ...s, path: rt && rt.provider === s.provider ? path.join(rt.mountpoint, s.name) : null }, null, 2));
          }),
      )
      .command(
        'delete <name>',
        'Delete a stream (handles still open keep writing until closed; the topic is kept)',
        (yy) => changeOptions(yy).positional('name', { type: 'string', demandOption: true }),
        (a) => withApi(a, async (c) => void (await finishJob(c, await c.request<JobView>('DELETE', `/streams/${seg(a.name as string)}`), a as A, `delete stream ${a.name}`))),
      )
      .demandCommand(1, 'name a stream command: create, update, list, describe or delete'),
  handler: () => {},
};

/** `graph validate|apply|show|list|delete|assign` through the API (graph test/agents stay local). */
export function graphApiCommands<T extends ApiFlags>(y: Argv<T>): Argv<T> {
  return y
    .command(
      'validate <file>',
      'Check a graph file against the agents and the provisioned streams; every problem is printed (node, field, code, message)',
      (yy) => yy.positional('file', { type: 'string', demandOption: true }).option('json', { type: 'boolean', default: false }),
      (a) =>
        withApi(a, async (c) => {
          const definition = await readDefinitionFile(a.file as string);
          const result = await c.request<{ ok: boolean; problems: GraphProblemView[] }>('POST', '/graphs/validate', { definition });
          if ((a as { json: boolean }).json) out(JSON.stringify(result, null, 2));
          else if (result.ok) out(`graph ${String((definition as { name?: unknown }).name)} is valid`);
          else printProblems(result.problems);
          if (!result.ok) process.exitCode = 1;
        }),
    )
    .command(
      'apply <file>',
      'Validate and commit a graph as a new version; running workers switch to it live',
      (yy) => changeOptions(yy).positional('file', { type: 'string', demandOption: true }),
      (a) =>
        withApi(a, async (c) => {
          const definition = await readDefinitionFile(a.file as string);
          const name = String((definition as { name?: unknown }).name);
          await reportingProblems(async () => finishJob(c, await c.request<JobView>('POST', '/graphs', { definition }), a as A, `apply graph ${name}`));
          const g = await c.request<GraphView>('GET', `/graphs/${seg(name)}`);
          if (!(a as A).json) out(`graph ${g.name} version ${g.version} committed`);
        }),
    )
    .command(
      'show <name>',
      'Print a graph (and with --stats its per-agent counters and CPU time from the fleet)',
      (yy) => yy.positional('name', { type: 'string', demandOption: true }).option('stats', { type: 'boolean', default: false }).option('json', { type: 'boolean', default: false }),
      (a) =>
        withApi(a, async (c) => {
          const g = await c.request<GraphView>('GET', `/graphs/${seg(a.name as string)}`);
          if ((a as { json: boolean }).json) return out(JSON.stringify(g, null, 2));
          out(`# graph ${g.name}${g.provider ? ` (provider ${g.provider})` : " (built in)"}, version ${g.version}${g.updatedAt ? `, updated ${g.updatedAt}` : ''}`);
          out(YAML.stringify(g.definition).trimEnd());
          if (!(a as { stats: boolean }).stats) return;
          out('');
          const stats = Object.entries(g.stats ?? {});
          if (stats.length === 0) return out('no running worker reports this graph');
          const types = new Map(g.nodes.map((n) => [n.id, n.type]));
          out(table([['NODE', 'TYPE', 'IN', 'OUT', 'ERRORS', 'CPU ms', 'REC/S'], ...stats.map(([id, s]) => [id, types.get(id) ?? '-', s.in, s.out, s.errors, Math.round(s.cpuMs), Math.round(s.ratePerSec)])]));
        }),
    )
    .command(
      'list',
      'List graphs, their versions and streams',
      (yy) => yy.option('json', { type: 'boolean', default: false }),
      (a) =>
        withApi(a, async (c) => {
          const graphs = await c.request<GraphView[]>('GET', '/graphs');
          if ((a as { json: boolean }).json) return out(JSON.stringify(graphs, null, 2));
          out(table([['GRAPH', 'PROVIDER', 'VERSION', 'NODES', 'STREAMS'], ...graphs.map((g) => [g.name, g.provider ?? '-', g.version, g.nodes.length, g.streams.join(',') || '-'])]));
        }),
    )
    .command(
      'delete <name>',
      'Delete a graph (its streams go back to the default graph)',
      (yy) => changeOptions(yy).positional('name', { type: 'string', demandOption: true }),
      (a) => withApi(a, async (c) => void (await finishJob(c, await c.request<JobView>('DELETE', `/graphs/${seg(a.name as string)}`), a as A, `delete graph ${a.name}`))),
    )
    .command(
      'assign <name> <streams..>',
      'Let a graph take these streams (a new version; streams it already takes stay)',
      (yy) => changeOptions(yy).positional('name', { type: 'string', demandOption: true }).positional('streams', { type: 'string', array: true, demandOption: true }),
      (a) =>
        withApi(a, async (c) => {
          const name = a.name as string;
          const current = await c.request<GraphView>('GET', `/graphs/${seg(name)}`);
          const streams = [...new Set([...current.streams, ...(a.streams as string[])])];
          await reportingProblems(async () => finishJob(c, await c.request<JobView>('PUT', `/graphs/${seg(name)}/streams`, { streams }), a as A, `assign ${streams.join(', ')} to graph ${name}`));
        }),
    ) as Argv<T>;
}

export const providerCommand: CommandModule<ApiFlags, ApiFlags> = {
  command: 'provider',
  describe: 'Manage providers (tenants; admin token)',
  builder: (y: Argv<ApiFlags>) =>
    y
      .command(
        'create <name>',
        'Create a provider',
        (yy) => changeOptions(yy).positional('name', { type: 'string', demandOption: true }).option('description', { type: 'string' }),
        (a) =>
          withApi(a, async (c) => {
            const body = { name: a.name as string, ...(a.description !== undefined ? { description: a.description as string } : {}) };
            await finishJob(c, await c.request<JobView>('POST', '/providers', body), a as A, `create provider ${a.name}`);
          }),
      )
      .command(
        'list',
        'List providers',
        (yy) => yy.option('json', { type: 'boolean', default: false }),
        (a) =>
          withApi(a, async (c) => {
            const list = await c.request<{ name: string; description: string | null; streams: number; createdAt: string }[]>('GET', '/providers');
            if ((a as { json: boolean }).json) return out(JSON.stringify(list, null, 2));
            out(table([['PROVIDER', 'STREAMS', 'CREATED', 'DESCRIPTION'], ...list.map((p) => [p.name, p.streams, p.createdAt, p.description ?? ''])]));
          }),
      )
      .command(
        'delete <name>',
        'Delete a provider that owns no streams',
        (yy) => changeOptions(yy).positional('name', { type: 'string', demandOption: true }),
        (a) => withApi(a, async (c) => void (await finishJob(c, await c.request<JobView>('DELETE', `/providers/${seg(a.name as string)}`), a as A, `delete provider ${a.name}`))),
      )
      .demandCommand(1, 'name a provider command: create, list or delete'),
  handler: () => {},
};

export const tokenCommand: CommandModule<ApiFlags, ApiFlags> = {
  command: 'token',
  describe: 'Manage API tokens (admin token)',
  builder: (y: Argv<ApiFlags>) =>
    y
      .command(
        'create <name>',
        'Create a token and print its secret once (scope: --admin, or --provider NAME)',
        (yy) => yy.positional('name', { type: 'string', demandOption: true }).option('provider', { type: 'string' }).option('admin', { type: 'boolean', default: false }),
        (a) =>
          withApi(a, async (c) => {
            if (!a.admin === !a.provider) throw new LogfsError('LOGFS_E_CONFIG', 'give exactly one scope: --admin or --provider NAME');
            const scope = a.admin ? 'admin' : { provider: a.provider as string };
            const res = await c.request<{ token: { id: string }; secret: string }>('POST', '/tokens', { name: a.name as string, scope });
            process.stderr.write(`token ${res.token.id} created; its secret is shown only now:\n`);
            out(res.secret);
          }),
      )
      .command(
        'list',
        'List tokens (never their secrets)',
        (yy) => yy.option('json', { type: 'boolean', default: false }),
        (a) =>
          withApi(a, async (c) => {
            const list = await c.request<{ id: string; name: string; scope: 'admin' | { provider: string }; createdAt: string }[]>('GET', '/tokens');
            if ((a as { json: boolean }).json) return out(JSON.stringify(list, null, 2));
            out(table([['ID', 'NAME', 'SCOPE', 'CREATED'], ...list.map((t) => [t.id, t.name, t.scope === 'admin' ? 'admin' : `provider ${t.scope.provider}`, t.createdAt])]));
          }),
      )
      .command(
        'revoke <id>',
        'Revoke a token',
        (yy) => yy.positional('id', { type: 'string', demandOption: true }),
        (a) =>
          withApi(a, async (c) => {
            await c.request('DELETE', `/tokens/${seg(a.id as string)}`);
            out(`revoked token ${a.id}`);
          }),
      )
      .demandCommand(1, 'name a token command: create, list or revoke'),
  handler: () => {},
};

export const jobsCommand: CommandModule<ApiFlags, ApiFlags> = {
  command: 'jobs [id]',
  describe: 'List provisioning jobs, or show one with its transitions and propagation',
  builder: (y: Argv<ApiFlags>) => y.positional('id', { type: 'string' }).option('json', { type: 'boolean', default: false }).option('limit', { type: 'number', default: 20 }),
  handler: (a) =>
    withApi(a, async (c) => {
      const argv = a as unknown as ApiFlags & { id?: string; json: boolean; limit: number };
      if (argv.id) {
        const job = await c.request<JobView>('GET', `/jobs/${seg(argv.id)}`);
        if (argv.json) return out(JSON.stringify(job, null, 2));
        out(describeJob(job));
        out(`  ${job.summary} (by ${job.author})`);
        for (const t of job.transitions) out(`  ${t.at}  ${t.state}`);
        for (const m of job.propagation.members) out(`  ${m.kind.padEnd(7)} ${m.id}  ${m.appliedAt ? `applied ${m.appliedAt}` : 'not yet applied'}`);
        return;
      }
      const jobs = await c.request<JobView[]>('GET', '/jobs', undefined, { limit: argv.limit });
      if (argv.json) return out(JSON.stringify(jobs, null, 2));
      out(table([['JOB', 'STATE', 'VERSION', 'DELAY ms', 'CREATED', 'SUMMARY'], ...jobs.map((j) => [j.id, j.state, j.version ?? '-', j.propagation.delayMs ?? '-', j.createdAt, j.summary + (j.reason ? ` — ${j.reason}` : '')])]));
    }),
};

export const historyCommand: CommandModule<ApiFlags, ApiFlags> = {
  command: 'history',
  describe: 'List committed versions of the provisioning store (admin token)',
  builder: (y: Argv<ApiFlags>) => y.option('json', { type: 'boolean', default: false }).option('limit', { type: 'number', default: 30 }),
  handler: (a) =>
    withApi(a, async (c) => {
      const argv = a as unknown as ApiFlags & { json: boolean; limit: number };
      const commits = await c.request<CommitInfo[]>('GET', '/history', undefined, { limit: argv.limit });
      if (argv.json) return out(JSON.stringify(commits, null, 2));
      out(table([['VERSION', 'AT', 'AUTHOR', 'CHANGES'], ...commits.map((h) => [h.version, h.at, h.author, [h.message, ...h.changes].filter(Boolean).join('; ')])]));
    }),
};

export const rollbackCommand: CommandModule<ApiFlags, ApiFlags> = {
  command: 'rollback <version>',
  describe: 'Make the streams, graphs and providers what they were at VERSION (as a new version; tokens are not rolled back)',
  builder: (y: Argv<ApiFlags>) => changeOptions(y.positional('version', { type: 'number', demandOption: true })),
  handler: (a) => withApi(a, async (c) => void (await finishJob(c, await c.request<JobView>('POST', '/rollback', { version: a.version as number }), a as unknown as A, `rollback to version ${a.version}`))),
};
