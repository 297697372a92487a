/**
 * The API's route table (docs/control-api.md, "Resources"): each route binds a ControlService
 * method to a path with the schemas of its query and body.
 */
import { z } from 'zod';
import { LogfsError } from '../../core/errors.js';
import * as S from '../api-schemas.js';
import type { ControlService } from '../service/index.js';
import { route, type Route } from './router.js';
import { serveTail, type TailSettings } from './sse-tail.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Largest distance from the epoch a Date can hold (ECMA-262, "Time Values and Time Range"). */
const MAX_TIME_MS = 8.64e15;

/** As `logfsctl --from`: now, -15m / 2h (relative to now), ms since the epoch, or an ISO time. */
export function parseTimeParam(text: string, name: string, now = Date.now()): number {
  const t = text.trim();
  const ms = parseTime(t, now);
  // Out of a Date's range the time would be NaN further on (and toISOString throws): refuse it here.
  if (ms === undefined || !(Math.abs(ms) <= MAX_TIME_MS)) {
    throw new LogfsError('LOGFS_E_CONFIG', `${name}="${text}" is not a time; write an ISO time, milliseconds since the epoch, now, or a relative one (-15m, -2h, -1d)`);
  }
  return ms;
}

function parseTime(t: string, now: number): number | undefined {
  if (t === 'now') return now;
  const rel = /^-?(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(t);
  if (rel) return now - Math.round(Number(rel[1]) * UNIT_MS[rel[2]!]!);
  if (/^\d{10,}$/.test(t)) return Number(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

function timeRange(q: { from?: string | undefined; to?: string | undefined }, defaultFrom?: string): { from?: number; to?: number } {
  const now = Date.now();
  const fromText = q.from ?? defaultFrom;
  const from = fromText === undefined ? undefined : parseTimeParam(fromText, 'from', now);
  const to = q.to === undefined ? undefined : parseTimeParam(q.to, 'to', now);
  if (from !== undefined && to !== undefined && from >= to) throw new LogfsError('LOGFS_E_CONFIG', `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

const empty = z.strictObject({});

export function apiRoutes(service: ControlService, tail: TailSettings): Route<any, any>[] {
  return [
    route({
      method: 'GET', path: '/health', operationId: 'health', summary: 'Liveness and the store version', tag: 'service', auth: 'none',
      query: empty, response: S.HealthSchema, handle: () => service.health(),
    }),
    route({
      method: 'GET', path: '/whoami', operationId: 'whoami', summary: "The calling token's name and scope", tag: 'service', auth: 'token',
      query: empty, response: S.WhoamiSchema, handle: ({ principal }) => service.whoami(principal),
    }),

    route({
      method: 'GET', path: '/providers', operationId: 'listProviders', summary: 'Providers (a provider token sees its own)', tag: 'providers', auth: 'token',
      query: empty, response: z.array(S.ProviderSchema), handle: ({ principal }) => service.listProviders(principal),
    }),
    route({
      method: 'POST', path: '/providers', operationId: 'createProvider', summary: 'Create a provider (admin)', tag: 'providers', auth: 'token',
      query: empty, body: S.ProviderInputSchema, response: S.JobSchema, status: 202, handle: ({ principal, body }) => service.createProvider(principal, body),
    }),
    route({
      method: 'DELETE', path: '/providers/{name}', operationId: 'deleteProvider', summary: 'Delete a provider that owns nothing (admin; 409 otherwise)', tag: 'providers', auth: 'token',
      query: empty, response: S.JobSchema, status: 202, handle: ({ principal, params }) => service.deleteProvider(principal, params.name!),
    }),

    route({
      method: 'GET', path: '/tokens', operationId: 'listTokens', summary: 'Tokens, never their secrets (admin)', tag: 'tokens', auth: 'token',
      query: empty, response: z.array(S.TokenInfoSchema), handle: ({ principal }) => service.listTokens(principal),
    }),
    route({
      method: 'POST', path: '/tokens', operationId: 'createToken', summary: 'Create a token; the secret is shown this once (admin)', tag: 'tokens', auth: 'token',
      query: empty, body: S.TokenInputSchema, response: S.TokenCreatedSchema, status: 201, handle: ({ principal, body }) => service.createToken(principal, body),
    }),
    route({
      method: 'DELETE', path: '/tokens/{id}', operationId: 'revokeToken', summary: 'Revoke a token (admin)', tag: 'tokens', auth: 'token',
      query: empty, response: S.OkSchema, handle: ({ principal, params }) => service.revokeToken(principal, params.id!),
    }),

    route({
      method: 'GET', path: '/streams', operationId: 'listStreams', summary: 'Streams the token sees, with usage and cost', tag: 'streams', auth: 'token',
      query: empty, response: z.array(S.StreamViewSchema), handle: ({ principal }) => service.listStreams(principal),
    }),
    route({
      method: 'POST', path: '/streams', operationId: 'createStream', summary: 'Create a stream', tag: 'streams', auth: 'token',
      query: empty, body: S.StreamInputSchema, response: S.JobSchema, status: 202, handle: ({ principal, body }) => service.createStream(principal, body),
    }),
    route({
      method: 'GET', path: '/streams/{name}', operationId: 'getStream', summary: 'One stream (name percent-encoded: a%2Fb)', tag: 'streams', auth: 'token',
      query: empty, response: S.StreamViewSchema, handle: ({ principal, params }) => service.getStream(principal, params.name!),
    }),
    route({
      method: 'PATCH', path: '/streams/{name}', operationId: 'updateStream', summary: 'Change a stream (partitions may only grow)', tag: 'streams', auth: 'token',
      query: empty, body: S.StreamPatchSchema, response: S.JobSchema, status: 202, handle: ({ principal, params, body }) => service.updateStream(principal, params.name!, body),
    }),
    route({
      method: 'DELETE', path: '/streams/{name}', operationId: 'deleteStream', summary: 'Delete a stream (graphs stop taking it)', tag: 'streams', auth: 'token',
      query: empty, response: S.JobSchema, status: 202, handle: ({ principal, params }) => service.deleteStream(principal, params.name!),
    }),
    route({
      method: 'GET', path: '/streams/{name}/tail', operationId: 'tailStream', summary: 'Live tail: Server-Sent Events "ready", then "record" (TailRecord JSON) per record', tag: 'streams',
      auth: 'token', queryToken: true, query: S.TailQuerySchema, response: 'sse',
      handle: ({ principal, params, query, req, res }) => serveTail(req, res, service.tailTarget(principal, params.name!), { ...tail, fromBeginning: query.from === 'beginning', ...(query.class !== undefined ? { classLabel: query.class } : {}) }),
    }),

    route({
      method: 'GET', path: '/graphs', operationId: 'listGraphs', summary: 'Graphs the token sees (with the built-in default graph)', tag: 'graphs', auth: 'token',
      query: empty, response: z.array(S.GraphViewSchema), handle: ({ principal }) => service.listGraphs(principal),
    }),
    route({
      method: 'POST', path: '/graphs', operationId: 'applyGraph', summary: 'Create or replace a graph by name (a new graph version)', tag: 'graphs', auth: 'token',
      query: empty, body: S.GraphApplySchema, response: S.JobSchema, status: 202, handle: ({ principal, body }) => service.applyGraph(principal, body.definition, body.provider),
    }),
    route({
      method: 'POST', path: '/graphs/validate', operationId: 'validateGraph', summary: 'Every problem of a definition; nothing is committed (200 either way)', tag: 'graphs', auth: 'token',
      query: empty, body: S.GraphValidateSchema, response: S.ValidationResultSchema, handle: ({ principal, body }) => service.validateGraph(principal, body.definition, body.provider),
    }),
    route({
      method: 'GET', path: '/graphs/{name}', operationId: 'getGraph', summary: 'One graph, with per-agent stats from the fleet', tag: 'graphs', auth: 'token',
      query: empty, response: S.GraphViewSchema, handle: ({ principal, params }) => service.getGraph(principal, params.name!),
    }),
    route({
      method: 'DELETE', path: '/graphs/{name}', operationId: 'deleteGraph', summary: 'Delete a graph (its streams go back to the default graph)', tag: 'graphs', auth: 'token',
      query: empty, response: S.JobSchema, status: 202, handle: ({ principal, params }) => service.deleteGraph(principal, params.name!),
    }),
    route({
      method: 'PUT', path: '/graphs/{name}/streams', operationId: 'assignStreams', summary: 'Set the streams a graph takes (a new graph version)', tag: 'graphs', auth: 'token',
      query: empty, body: S.AssignStreamsSchema, response: S.JobSchema, status: 202, handle: ({ principal, params, body }) => service.assignStreams(principal, params.name!, body.streams),
    }),
    route({
      method: 'GET', path: '/agents', operationId: 'listAgents', summary: 'Agent types with their config JSON Schemas', tag: 'graphs', auth: 'token',
      query: empty, response: z.array(S.AgentInfoSchema), handle: () => service.listAgents(),
    }),

    route({
      method: 'POST', path: '/commits', operationId: 'commit', summary: 'Several edits as one atomic commit: all or none', tag: 'changes', auth: 'token',
      query: empty, body: S.CommitInputSchema, response: S.JobSchema, status: 202, handle: ({ principal, body }) => service.commit(principal, body.edits, body.message),
    }),
    route({
      method: 'GET', path: '/history', operationId: 'history', summary: 'Commits, newest first (admin)', tag: 'changes', auth: 'token',
      query: S.LimitQuerySchema, response: z.array(S.CommitInfoSchema), handle: ({ principal, query }) => service.history(principal, query.limit),
    }),
    route({
      method: 'GET', path: '/history/{version}', operationId: 'historyAt', summary: 'A commit and the state it made (keys as keyId, no tokens; admin)', tag: 'changes', auth: 'token',
      params: S.VersionParamsSchema, query: empty, response: S.HistoryEntrySchema, handle: ({ principal, params }) => service.historyAt(principal, versionParam(params.version!)),
    }),
    route({
      method: 'POST', path: '/rollback', operationId: 'rollback', summary: 'Commit the providers, streams and graphs of an earlier version again (admin)', tag: 'changes', auth: 'token',
      query: empty, body: S.RollbackInputSchema, response: S.JobSchema, status: 202, handle: ({ principal, body }) => service.rollback(principal, body.version),
    }),

    route({
      method: 'GET', path: '/jobs', operationId: 'listJobs', summary: 'Provisioning jobs, newest first', tag: 'jobs', auth: 'token',
      query: S.LimitQuerySchema, response: z.array(S.JobSchema), handle: ({ principal, query }) => service.listJobs(principal, query.limit),
    }),
    route({
      method: 'GET', path: '/jobs/{id}', operationId: 'getJob', summary: 'One job; ?wait=active waits up to 30 s for active or failed', tag: 'jobs', auth: 'token',
      query: S.JobQuerySchema, response: S.JobSchema, handle: ({ principal, params, query }) => service.getJob(principal, params.id!, query.wait ? 30_000 : undefined),
    }),
    route({
      method: 'GET', path: '/fleet', operationId: 'fleet', summary: 'Daemons, workers and control services, with what they report', tag: 'fleet', auth: 'token',
      query: empty, response: S.FleetSchema, handle: ({ principal }) => service.fleet(principal),
    }),

    route({
      method: 'GET', path: '/archive', operationId: 'archiveRecords', summary: 'Archived records, a page at a time', tag: 'data', auth: 'token',
      query: S.ArchiveQuerySchema, response: S.ArchivePageSchema,
      handle: ({ principal, query }) => {
        const { from, to, ...rest } = query;
        return service.archiveRecords(principal, { ...stripUndefined(rest), ...timeRange({ from, to }) });
      },
    }),
    route({
      method: 'GET', path: '/archive/tree', operationId: 'archiveTree', summary: 'Browse levels: provider → stream → class → instance → hour', tag: 'data', auth: 'token',
      query: S.ArchiveTreeQuerySchema, response: S.ArchiveTreeSchema, handle: ({ principal, query }) => service.archiveTree(principal, stripUndefined(query)),
    }),
    route({
      method: 'GET', path: '/metrics', operationId: 'metrics', summary: 'Metric series of metric agents', tag: 'data', auth: 'token',
      query: S.MetricsQuerySchema, response: S.MetricsAnswerSchema,
      handle: ({ principal, query }) => {
        const { from, to, ...rest } = query;
        return service.metrics(principal, { ...stripUndefined(rest), ...timeRange({ from, to }, '-1h') });
      },
    }),
    route({
      method: 'GET', path: '/alarms', operationId: 'alarms', summary: 'Alarm episodes, newest first', tag: 'data', auth: 'token',
      query: S.AlarmsQuerySchema, response: z.array(S.AlarmViewSchema), handle: ({ principal, query }) => service.alarms(principal, query.state ?? 'all', query.limit),
    }),
  ];
}

function versionParam(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new LogfsError('LOGFS_E_CONFIG', `"${text}" is not a version number`);
  return Number(text);
}

/** exactOptionalPropertyTypes-friendly: drops keys whose value is undefined. */
function stripUndefined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}
