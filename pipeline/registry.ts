/**
 * The explicit list of agent types (STYLE.md: one registry, and a test that every file under
 * pipeline/agents/ is listed here and meets the agent contract).
 */
import type { AgentDefinition } from './agent.js';
import { aggregate } from './agents/aggregate.js';
import { alarm } from './agents/alarm.js';
import { archive } from './agents/archive.js';
import { classify } from './agents/classify.js';
import { custom } from './agents/custom/index.js';
import { discard } from './agents/discard.js';
import { filter } from './agents/filter.js';
import { metric } from './agents/metric.js';
import { parse } from './agents/parse.js';
import { sample } from './agents/sample.js';
import { split } from './agents/split.js';
import { validate } from './agents/validate.js';

export const AGENTS: readonly AgentDefinition<any>[] = [split, discard, parse, validate, classify, filter, sample, aggregate, metric, alarm, archive, custom];

export type AgentRegistry = ReadonlyMap<string, AgentDefinition<any>>;

export const REGISTRY: AgentRegistry = new Map(AGENTS.map((a) => [a.type, a]));
