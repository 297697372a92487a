/**
 * kafkajs 2.2.4 groups a batch's messages by partition with `[...current, message]` for every
 * message (src/producer/groupMessagesPerPartition.js), which is quadratic in the batch size: at the
 * shipper's batch sizes it was 45% of logfsd's CPU (bench/write-path.ts, profile in the issue note).
 * The fix upstream (kafkajs PR #1576) was never released, so this module installs a linear version
 * of the same function in Node's module cache before kafkajs loads it. Import it before `kafkajs`.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface Args<M> {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: M }) => number;
}

/** Same result as kafkajs' function: an object from partition to its messages, in order. */
export function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: Args<M>): Record<number, M[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<number, M[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

/** True when the linear version is in place for the kafkajs producer that will be loaded. */
export function installLinearGrouping(): boolean {
  const target = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
  const sendMessages = require.resolve('kafkajs/src/producer/sendMessages.js');
  // Too late once sendMessages.js holds the original function.
  if (require.cache[sendMessages]) return require.cache[target]?.exports === groupMessagesPerPartition;
  require(target);
  const mod = require.cache[target];
  if (!mod) return false;
  mod.exports = groupMessagesPerPartition;
  return true;
}

export const linearGroupingInstalled = installLinearGrouping();
