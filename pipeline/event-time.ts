/**
 * Event time for windowed agents (aggregate, metric, alarm). A record's time is the gateway's clock
 * at acceptance; a host whose clock runs far ahead would otherwise move an agent's watermark into
 * the future for the rest of its run, closing every current window early. Records further ahead
 * than this still land in their own windows, but do not move the watermark.
 */
export const EVENT_TIME_DEFAULTS = {
  /** How far ahead of this worker's clock a record's time may move the watermark. */
  maxAheadMs: 5 * 60_000,
};

/** The latest event time a record may push the watermark to, as of now. */
export function watermarkHorizon(now = Date.now()): number {
  return now + EVENT_TIME_DEFAULTS.maxAheadMs;
}
