/**
 * usePoll loads data now and then every `intervalMs` while the tab is visible. Keeps the last good
 * data when a refresh fails, so a blip shows an error line instead of emptying the view.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';

export interface Polled<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: readonly unknown[] = []): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  // The loader is read through a ref; callers list what it depends on in `deps`.
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setLoading(true);
    const run = async () => {
      if (document.visibilityState !== 'hidden') {
        try {
          const v = await loadRef.current();
          if (!alive) return;
          setData(v);
          setError(null);
        } catch (err) {
          if (!alive) return;
          // A 401 ends the session elsewhere; nothing to show here.
          if (!(err instanceof ApiError && err.status === 401)) setError(err instanceof Error ? err.message : String(err));
        } finally {
          if (alive) setLoading(false);
        }
      }
      if (alive && intervalMs > 0) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [...deps, tick, intervalMs]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
