/**
 * A graph definition as operators write it (YAML or JSON) and as the provisioning store keeps it.
 * Only the shape is checked here; pipeline/graph/graph-validate.ts checks the meaning (agent types,
 * their configs, edges, cycles, reachability, phases) and reports every problem at once.
 *
 *   name: web
 *   streams: [nginx/access]
 *   nodes:
 *     - { id: parse, type: parse, inputs: [source], config: { format: json } }
 *     - { id: errors, type: filter, inputs: [parse], config: { pass: { when: { field: fields.status, gte: 500 } } } }
 *     - { id: store, type: archive, inputs: [parse, errors.drop] }
 */
import { z } from 'zod';

/** The reserved input name for the records of the graph's streams. */
export const SOURCE = 'source';

export const NODE_ID = /^[a-z][a-z0-9_-]{0,62}$/;
export const GRAPH_NAME = /^[a-z][a-z0-9-]{0,62}$/;

export const NodeSchema = z.strictObject({
  id: z.string().describe('Unique node id: lower-case letters, digits, _ and -; "source" is reserved'),
  type: z.string().describe('Agent type (logfsctl graph agents lists them)'),
  inputs: z
    .array(z.string())
    .min(1)
    .describe('Where records come from: "source" (the graph\'s streams), a node id (its default output) or "id.port"'),
  config: z.record(z.string(), z.unknown()).default({}).describe("The agent's configuration; checked against its schema"),
  phase: z.string().optional().describe('Phase this node belongs to (see phases); default: the first phase'),
});

export const GraphDefinitionSchema = z.strictObject({
  name: z.string().describe('Graph name: lower-case letters, digits and -'),
  description: z.string().max(500).optional().describe('What the graph is for'),
  streams: z.array(z.string()).default([]).describe('Streams whose records the graph takes (logfsctl graph assign adds more)'),
  phases: z
    .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'phase names are lower-case letters, digits and -'))
    .optional()
    .describe('Ordered phase names; with Kafka each phase boundary becomes an intermediate topic with its own consumer group'),
  nodes: z.array(NodeSchema).min(1).describe('The agents of the graph'),
});

export type NodeDefinition = z.infer<typeof NodeSchema>;
export type GraphDefinition = z.infer<typeof GraphDefinitionSchema>;
export type GraphDefinitionInput = z.input<typeof GraphDefinitionSchema>;
