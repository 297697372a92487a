/**
 * How many messages a topic holds, from its offsets (a fresh topic: the high watermarks add up to
 * the messages appended), and waiting until that count stops growing. Reading offsets costs the
 * broker next to nothing, so the benchmark can poll often without slowing what it measures.
 */
import type { Admin } from 'kafkajs';

export async function topicCount(admin: Admin, topic: string): Promise<number> {
  const parts = await admin.fetchTopicOffsets(topic);
  return parts.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

export interface Settled {
  count: number;
  /** Wall-clock ms when the final count was first seen. */
  at: number;
}

/**
 * Polls until the topic holds `target` messages, or its count has not moved for `idleMs` after
 * `notBefore` (the senders' end: what is missing by then is lost), or `timeoutMs` passed.
 */
export async function waitForCount(
  admin: Admin,
  topic: string,
  target: number,
  opts: { idleMs: number; timeoutMs: number; pollMs: number; notBefore: () => number | undefined },
): Promise<Settled> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: Settled = { count: await topicCount(admin, topic), at: Date.now() };
  for (;;) {
    if (last.count >= target) return last;
    const since = opts.notBefore();
    const now = Date.now();
    if (since !== undefined && now - Math.max(last.at, since) > opts.idleMs) return last;
    if (now > deadline) return last;
    await new Promise((r) => setTimeout(r, opts.pollMs));
    const count = await topicCount(admin, topic);
    if (count !== last.count) last = { count, at: Date.now() };
  }
}
