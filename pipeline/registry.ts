/**
 * The explicit list of agent types (STYLE.md: one registry, and a test that every file under
 * pipeline/agents/ is listed here and meets the agent contract).
 */
import type { AgentDefinition } from './agent.js';
import { discard } from './agents/discard.js';
import { split } from './agents/split.js';

export const AGENTS: readonly AgentDefinition<any>[] = [split, discard];

export type AgentRegistry = ReadonlyMap<string, AgentDefinition<any>>;

export const REGISTRY: AgentRegistry = new Map(AGENTS.map((a) => [a.type, a]));
