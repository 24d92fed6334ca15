/**
 * A job's output. While the job runs the log is followed live (a chunked stream, appended as it
 * arrives, scrolled to the end unless the reader scrolled up); once it has ended the rest is read
 * page by page. At most MAX_CHARS of text are kept (the newest). A driver that keeps no output (the
 * simulated fleet) answers 404 `logs_not_available`, shown as a plain sentence.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';
import { fetchLogPage, followLogs, isLockboxRequired, isLogsNotAvailable } from '../api/job-logs.js';

const MAX_CHARS = 1 << 20;
const MAX_PAGES = 64;

/** waiting: queued; live: placed and not ended; done: ended after running; never: ended without starting. */
export type LogPhase = 'waiting' | 'live' | 'done' | 'never';

/** locked: an operator without the tenant's consent (the API's sentence says how to ask). */
type Status = 'idle' | 'loading' | 'following' | 'complete' | 'unavailable' | 'locked' | 'error';

export function JobLogsPanel({ id, phase }: { id: string; phase: LogPhase }) {
  const [text, setText] = useState('');
  const [dropped, setDropped] = useState(false);
  const [status, setStatus] = useState<Status>('idle');
  const [error, setError] = useState<string | null>(null);
  const [lockedWhy, setLockedWhy] = useState<string | null>(null);
  const offset = useRef(0);
  const streamEnded = useRef(false);
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  const append = (more: string) => {
    if (!more) return;
    setText((t) => {
      const all = t + more;
      if (all.length <= MAX_CHARS) return all;
      setDropped(true);
      const cut = all.length - MAX_CHARS;
      const nl = all.indexOf('\n', cut);
      return all.slice(nl >= 0 && nl - cut < 4096 ? nl + 1 : cut);
    });
  };

  useEffect(() => {
    offset.current = 0;
    streamEnded.current = false;
    stick.current = true;
    setText('');
    setDropped(false);
    setStatus('idle');
    setError(null);
    setLockedWhy(null);
  }, [id]);

  useEffect(() => {
    if (phase === 'waiting' || phase === 'never') return;
    if (phase === 'live') {
      setStatus('following');
      return followLogs(id, offset.current, {
        onText: (t, at) => {
          offset.current = at;
          setError(null);
          append(t);
        },
        onEnd: (at) => {
          offset.current = at;
          streamEnded.current = true;
        },
        onError: (err) => {
          if (isLogsNotAvailable(err)) setStatus('unavailable');
          else if (isLockboxRequired(err)) {
            setStatus('locked');
            setLockedWhy(err instanceof Error ? err.message : String(err));
          } else setError(`live output interrupted (${err instanceof Error ? err.message : String(err)}); retrying`);
        },
      });
    }
    // done: read what the stream has not delivered (all of it when the job was never followed).
    if (streamEnded.current && offset.current > 0) {
      setStatus('complete');
      return;
    }
    const abort = new AbortController();
    setStatus('loading');
    void (async () => {
      try {
        for (let i = 0; i < MAX_PAGES; i++) {
          const page = await fetchLogPage(id, offset.current, abort.signal);
          if (abort.signal.aborted) return;
          const progressed = page.nextOffset > offset.current;
          offset.current = page.nextOffset;
          append(page.text);
          if (page.eof || !progressed) break;
        }
        setStatus('complete');
      } catch (err) {
        if (abort.signal.aborted) return;
        if (isLogsNotAvailable(err)) setStatus(offset.current === 0 ? 'unavailable' : 'complete');
        else if (isLockboxRequired(err)) {
          setStatus('locked');
          setLockedWhy(err instanceof Error ? err.message : String(err));
        } else {
          setStatus('error');
          setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
        }
      }
    })();
    return () => abort.abort();
  }, [id, phase]);

  // Keep the newest output in view unless the reader scrolled up to read.
  useLayoutEffect(() => {
    const el = pre.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [text]);
  const onScroll = () => {
    const el = pre.current;
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };

  let note: string | null = null;
  if (phase === 'waiting') note = 'Output appears here once the job starts.';
  else if (phase === 'never') note = 'The job never started, so it produced no output.';
  else if (status === 'locked') note = `Withheld: ${lockedWhy ?? ''}`;
  else if (status === 'unavailable') note = 'This job ran on the simulated fleet, which produces no output.';
  else if (status === 'complete' && text === '') note = 'The job wrote no output.';
  else if ((status === 'loading' || status === 'following') && text === '')
    note = status === 'following' ? 'No output yet.' : 'Loading output…';

  return (
    <section class="panel" aria-labelledby="job-logs">
      <h2 id="job-logs">Logs {status === 'following' && <span class="muted small">(following live)</span>}</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {note && (
        <p data-testid="logs-note" data-status={status}>
          {note}
        </p>
      )}
      {dropped && <p class="muted small">Earlier output dropped: only the last 1 MiB is kept here.</p>}
      {text !== '' && (
        <pre class="log" data-testid="job-logs" data-status={status} ref={pre} onScroll={onScroll}>
          {text}
        </pre>
      )}
    </section>
  );
}
