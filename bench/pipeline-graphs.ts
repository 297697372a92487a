/** The graphs the pipeline benchmark runs (issue 3): (a) archive only, (b) parse → filter → metric → archive, (c) six agents with sample and aggregate. */
import { NGINX_PATTERN } from './nginx-lines.js';

const parse = { id: 'parse', type: 'parse', inputs: ['source'], config: { format: 'regex', pattern: NGINX_PATTERN, types: { status: 'int', bytes: 'int', rt: 'float' } } };

export const BENCH_GRAPHS: Record<string, { label: string; definition: Record<string, unknown> }> = {
  a: {
    label: '(a) archive only',
    definition: { name: 'bench-a', streams: ['access'], nodes: [{ id: 'archive', type: 'archive', inputs: ['source'], config: { name: 'bench' } }] },
  },
  b: {
    label: '(b) parse (regex) → filter → metric → archive',
    definition: {
      name: 'bench-b',
      streams: ['access'],
      nodes: [
        parse,
        { id: 'no-health', type: 'filter', inputs: ['parse'], config: { drop: { when: { field: 'fields.path', eq: '/health' } } } },
        { id: 'latency', type: 'metric', inputs: ['no-health'], config: { field: 'fields.rt', groupBy: ['fields.status'], bucketsMinutes: [1] } },
        { id: 'archive', type: 'archive', inputs: ['no-health'], config: { name: 'bench' } },
      ],
    },
  },
  c: {
    label: '(c) parse → classify → filter → sample → aggregate, archive',
    definition: {
      name: 'bench-c',
      streams: ['access'],
      nodes: [
        parse,
        {
          id: 'classify',
          type: 'classify',
          inputs: ['parse'],
          config: { rules: [{ class: 'server-error', when: { field: 'fields.status', gte: 500 } }, { class: 'client-error', when: { field: 'fields.status', gte: 400 } }, { class: 'ok', match: '.' }] },
        },
        { id: 'no-health', type: 'filter', inputs: ['classify'], config: { drop: { when: { field: 'fields.path', eq: '/health' } } } },
        { id: 'sample', type: 'sample', inputs: ['no-health'], config: { mode: 'stratified', rates: { ok: 0.1 }, defaultRate: 1, seed: 7 } },
        { id: 'aggregate', type: 'aggregate', inputs: ['sample'], config: { by: ['class', 'fields.status'], windowMs: 60_000 } },
        { id: 'archive', type: 'archive', inputs: ['aggregate', 'sample'], config: { name: 'bench' } },
      ],
    },
  },
};
