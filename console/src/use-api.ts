// Data loading for pages: one request on mount, optional polling, and a reload() after changes.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from './api/client';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` now, again whenever `deps` change, and every `everyMs` while the page is shown
 * (a failed poll keeps the last data and shows the error beside it).
 */
export function useApi<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const v = await loadRef.current();
        if (!live) return;
        setData(v);
        setError(undefined);
      } catch (err) {
        if (!live) return;
        setError(err instanceof ApiError ? err : new ApiError(0, 'LOGFS_E_CONSOLE', String(err)));
      } finally {
        if (live) {
          setLoading(false);
          if (everyMs) timer = setTimeout(run, everyMs);
        }
      }
    };
    setLoading(true);
    void run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, everyMs]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** A value that follows `value` after it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
