/**
 * sample: keeps a share of the records on `out` and sends the others to `rest` (which may stay
 * unconnected: those records are then dropped on purpose).
 *
 * - random: each record is kept with probability `rate`.
 * - systematic: every `every`-th record in arrival order, starting with the `offset`-th (0-based).
 * - stratified: random with a rate per class (`rates`); a class not listed takes the rate of its
 *   nearest listed parent (`critical/db` falls back to `critical`), then `defaultRate`; records
 *   without a class take `unlabelled`.
 *
 * Why random picks hash the record ID instead of drawing from a generator: after a crash the worker
 * processes again the records whose offsets were not committed, and the archive keeps what it
 * already has. A generator would pick a different subset the second time, so that stretch would be
 * over-sampled; a hash of (seed, record ID) picks the same records every time, whatever the batch
 * boundaries or the number of workers. The mixing is mulberry32's output function over an FNV-1a
 * hash of the ID. Without `seed`, the seed comes from the graph and node names, so two sample
 * nodes do not pick the same records (which would make a second sample after a first keep all).
 */
import { z } from 'zod';
import { defineAgent } from '../agent.js';
import { ClassLabelSchema } from '../class-label.js';

const DEFAULTS = {
  offset: 0,
  /** Classes that no rate mentions are kept: sampling loses only what the config names. */
  defaultRate: 1,
} as const;

const MODES = ['random', 'systematic', 'stratified'] as const;
type Mode = (typeof MODES)[number];

const RateSchema = z.number().min(0).max(1);

export const SampleConfigSchema = z
  .strictObject({
    mode: z.enum(MODES).describe('random (probability rate), systematic (every k-th record) or stratified (a rate per class)'),
    rate: RateSchema.optional().describe('random: probability in [0, 1] that a record is kept'),
    every: z.number().int().min(1).optional().describe('systematic: keep one record in every `every`'),
    offset: z.number().int().min(0).optional().describe('systematic: 0-based position in each run of `every` that is kept (default 0: the first)'),
    rates: z.record(ClassLabelSchema, RateSchema).optional().describe('stratified: keep probability per class, e.g. { debug: 0.01, info: 0.1 }'),
    defaultRate: RateSchema.optional().describe('stratified: rate for classes not in `rates` (default 1: kept)'),
    unlabelled: RateSchema.optional().describe('stratified: rate for records without a class (default: defaultRate)'),
    seed: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .optional()
      .describe('random, stratified: seed of the picks; the same seed picks the same records (default: derived from graph and node names)'),
  })
  .superRefine((c, ctx) => {
    const allowed: Record<Mode, readonly string[]> = {
      random: ['rate', 'seed'],
      systematic: ['every', 'offset'],
      stratified: ['rates', 'defaultRate', 'unlabelled', 'seed'],
    };
    for (const key of ['rate', 'every', 'offset', 'rates', 'defaultRate', 'unlabelled', 'seed'] as const) {
      if (c[key] !== undefined && !allowed[c.mode].includes(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" does not apply to mode ${c.mode}; it takes ${allowed[c.mode].join(', ')}` });
      }
    }
    if (c.mode === 'random' && c.rate === undefined) ctx.addIssue({ code: 'custom', path: ['rate'], message: 'mode random needs rate (0 to 1)' });
    if (c.mode === 'systematic') {
      if (c.every === undefined) ctx.addIssue({ code: 'custom', path: ['every'], message: 'mode systematic needs every (keep one record in every k)' });
      else if ((c.offset ?? DEFAULTS.offset) >= c.every) ctx.addIssue({ code: 'custom', path: ['offset'], message: `offset must be below every (${c.every})` });
    }
    if (c.mode === 'stratified' && c.rates === undefined && c.defaultRate === undefined && c.unlabelled === undefined) {
      ctx.addIssue({ code: 'custom', path: ['rates'], message: 'mode stratified needs rates (per class), defaultRate or unlabelled' });
    }
  });
export type SampleConfig = z.infer<typeof SampleConfigSchema>;

/** FNV-1a over the UTF-16 code units of `s`, starting from `seed`. */
function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** A value in [0, 1) that depends only on the seed and the record ID. */
export function pickValue(id: string, seed: number): number {
  let h = (fnv1a(id, seed) + 0x6d2b79f5) | 0;
  h = Math.imul(h ^ (h >>> 15), h | 1);
  h ^= h + Math.imul(h ^ (h >>> 7), h | 61);
  return ((h ^ (h >>> 14)) >>> 0) / 4294967296;
}

// Classes repeat; resolving a hierarchical class walks its parents once, then comes from here.
const RATE_CACHE_LIMIT = 4096;

function classRates(c: SampleConfig): (cls: string | null) => number {
  const rates = new Map(Object.entries(c.rates ?? {}));
  const defaultRate = c.defaultRate ?? DEFAULTS.defaultRate;
  const unlabelled = c.unlabelled ?? defaultRate;
  const cache = new Map<string, number>();
  return (cls) => {
    if (cls === null) return unlabelled;
    let rate = cache.get(cls);
    if (rate !== undefined) return rate;
    rate = defaultRate;
    for (let level = cls; ; ) {
      const r = rates.get(level);
      if (r !== undefined) {
        rate = r;
        break;
      }
      const slash = level.lastIndexOf('/');
      if (slash < 0) break;
      level = level.slice(0, slash);
    }
    if (cache.size >= RATE_CACHE_LIMIT) cache.clear();
    cache.set(cls, rate);
    return rate;
  };
}

export const sample = defineAgent<SampleConfig>({
  type: 'sample',
  description: 'Keeps a random, every-k-th or per-class share of records; the rest go to rest',
  configSchema: SampleConfigSchema,
  ports: () => ['out', 'rest'],
  sink: false,
  create: (c, ctx) => {
    const seed = c.seed ?? fnv1a(`${ctx.graph}/${ctx.nodeId}`, 0);
    if (c.mode === 'systematic') {
      const every = c.every ?? 1;
      const offset = c.offset ?? DEFAULTS.offset;
      // Position in the current run of `every`; survives batch boundaries (not restarts).
      let phase = 0;
      return {
        process(batch, out) {
          for (let i = 0; i < batch.length; i++) {
            out.emit(phase === offset ? 'out' : 'rest', batch[i]!);
            phase = phase + 1 === every ? 0 : phase + 1;
          }
        },
      };
    }
    if (c.mode === 'random') {
      const rate = c.rate ?? 1;
      return {
        process(batch, out) {
          for (let i = 0; i < batch.length; i++) {
            const r = batch[i]!;
            out.emit(pickValue(r.id, seed) < rate ? 'out' : 'rest', r);
          }
        },
      };
    }
    const rateOf = classRates(c);
    return {
      process(batch, out) {
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i]!;
          out.emit(pickValue(r.id, seed) < rateOf(r.class) ? 'out' : 'rest', r);
        }
      },
    };
  },
});
