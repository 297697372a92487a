/**
 * The OpenAPI 3.1 document of the API, generated from the route table and the zod schemas that
 * parse requests (control/api-schemas.ts), so it describes exactly what the service accepts.
 * Named schemas become components; JSON Schema 2020-12 is OpenAPI 3.1's own dialect.
 */
import { z } from 'zod';
import { apiRegistry } from '../api-schemas.js';
import { HTTP_DEFAULTS, type Route } from './router.js';

type Json = Record<string, unknown>;

const REF = (id: string): string => `#/components/schemas/${id}`;

/**
 * One Server-Sent Event as OpenAPI 3.2 describes `itemSchema` for text/event-stream: the event's
 * fields (event, data, id, retry), not its payload; a record event's data is a TailRecord as JSON.
 */
const SSE_EVENT: Json = {
  type: 'object',
  required: ['data'],
  properties: {
    event: { type: 'string', enum: ['ready', 'record', 'dropped', 'error'] },
    data: { type: 'string', contentMediaType: 'application/json' },
    id: { type: 'string', description: 'record events: instance:seq' },
    retry: { type: 'integer', minimum: 0 },
  },
  if: { properties: { event: { const: 'record' } }, required: ['event'] },
  then: { properties: { data: { contentSchema: { $ref: REF('TailRecord') } } } },
};

function clean(schema: Json): Json {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

/** A schema as used in a path: a $ref when it is named, an array of a $ref, or inline. */
function schemaRef(schema: z.ZodType): Json {
  const id = apiRegistry.get(schema)?.id;
  if (id) return { $ref: REF(id) };
  if (schema instanceof z.ZodArray) return { type: 'array', items: schemaRef(schema.element as z.ZodType) };
  return clean(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json);
}

function queryParameters(schema: z.ZodType | undefined): Json[] {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, prop]) => {
    // Output: a number in a query string is written as digits; the document shows the integer (with its bounds).
    const js = clean(z.toJSONSchema(prop, { io: 'output', unrepresentable: 'any' }) as Json);
    const { description, ...rest } = js;
    return { name, in: 'query', required: !prop.safeParse(undefined).success, ...(description ? { description } : {}), schema: rest };
  });
}

export function openApiDocument(routes: readonly Route<any, any>[], version: string): Json {
  const components = z.toJSONSchema(apiRegistry, { io: 'input', unrepresentable: 'any', uri: REF }) as { schemas: Record<string, Json> };
  const schemas = Object.fromEntries(Object.entries(components.schemas).map(([k, v]) => [k, clean(v)]));
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const fullPath = `${HTTP_DEFAULTS.apiPrefix}${r.path}`;
    const paramShape = (r.params?.shape ?? {}) as Record<string, z.ZodType>;
    const pathParams = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: paramShape[m[1]!] ? clean(z.toJSONSchema(paramShape[m[1]!]!, { io: 'output', unrepresentable: 'any' }) as Json) : { type: 'string' },
      description: m[1] === 'name' && r.path.startsWith('/streams') ? 'Stream name, percent-encoded ("/" as %2F)' : undefined,
    }));
    const status = String(r.status ?? 200);
    const success =
      r.response === 'sse'
        ? { description: 'Server-Sent Events: "ready" once reading, then "record" events (data: TailRecord JSON), "dropped" when the client fell behind, comments as keep-alive', content: { 'text/event-stream': { schema: { type: 'string' }, itemSchema: SSE_EVENT } } }
        : { description: 'Success', content: { 'application/json': { schema: schemaRef(r.response) } } };
    const op: Json = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...pathParams.map((p) => (p.description ? p : { name: p.name, in: p.in, required: p.required, schema: p.schema })), ...queryParameters(r.query)],
      responses: {
        [status]: success,
        ...(r.body ? { '400': { $ref: '#/components/responses/Error' }, '413': { $ref: '#/components/responses/Error' } } : { '400': { $ref: '#/components/responses/Error' } }),
        ...(r.auth === 'token' ? { '401': { $ref: '#/components/responses/Error' }, '403': { $ref: '#/components/responses/Error' } } : {}),
        '404': { $ref: '#/components/responses/Error' },
        ...(r.method !== 'GET' ? { '409': { $ref: '#/components/responses/Error' } } : {}),
        default: { $ref: '#/components/responses/Error' },
      },
      ...(r.auth === 'none' ? { security: [] } : {}),
    };
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaRef(r.body) } } };
    (paths[fullPath] ??= {})[r.method.toLowerCase()] = op;
  }
  paths[`${HTTP_DEFAULTS.apiPrefix}/openapi.json`] = {
    get: { operationId: 'openapi', summary: 'This document', tags: ['service'], security: [], responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } } },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'logFS control API',
      version,
      description: 'Provisioning of providers, streams and graphs; jobs, history and rollback; fleet, archive, metrics and alarms. See docs/control-api.md.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: ['service', 'providers', 'tokens', 'streams', 'graphs', 'changes', 'jobs', 'fleet', 'data'].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from POST /tokens, or the admin token in <data>/admin.token' } },
      responses: { Error: { description: 'An error (docs/control-api.md, "Errors")', content: { 'application/json': { schema: { $ref: REF('Error') } } } } },
    },
  };
}
