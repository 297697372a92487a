/**
 * Class labels that agents set or refer to (classify, sample). They follow the mount's rules
 * exactly (control/stream-name.ts validateLabel), so a class set by a graph is one a writer could
 * also have given through the mount, and the archive sees one kind of label.
 */
import { z } from 'zod';
import { errorMessage } from '../core/errors.js';
import { validateLabel } from '../control/stream-name.js';

export const ClassLabelSchema = z
  .string()
  .superRefine((s, ctx) => {
    try {
      validateLabel(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: errorMessage(err) });
    }
  })
  .describe('Class label: levels joined by "/", no control characters or "@", at most 200 bytes');

// Field values that become classes (classify's fromField) repeat a few values many times.
const CACHE_LIMIT = 4096;
const checked = new Map<string, boolean>();

/** True when `v` is a string the mount would accept as a label; never throws. */
export function isClassLabel(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  let ok = checked.get(v);
  if (ok === undefined) {
    try {
      validateLabel(v);
      ok = true;
    } catch {
      ok = false;
    }
    if (checked.size >= CACHE_LIMIT) checked.clear();
    checked.set(v, ok);
  }
  return ok;
}
