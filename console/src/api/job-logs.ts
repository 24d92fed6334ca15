/**
 * A job's output from /v1/jobs/{id}/logs: one page (`offset`, answered with X-Next-Offset and
 * X-Log-Eof) or, with `follow=true`, a chunked stream read with a ReadableStream reader until the
 * job ends. Offsets count bytes, so the stream is counted before it is decoded; a dropped stream
 * resumes from the last byte received. A driver that keeps no log answers 404 `logs_not_available`.
 */
import { ApiError, fetchRaw } from './client.js';

export interface LogPage {
  text: string;
  nextOffset: number;
  eof: boolean;
}

const path = (id: string, offset: number, follow: boolean) =>
  `/v1/jobs/${encodeURIComponent(id)}/logs?offset=${offset}${follow ? '&follow=true' : ''}`;

/** isLogsNotAvailable: the driver that ran the job keeps no output (the simulated fleet). */
export const isLogsNotAvailable = (err: unknown): boolean =>
  err instanceof ApiError && err.status === 404 && err.problem?.code === 'logs_not_available';

/** isLockboxRequired: an operator without the tenant's approval (403 lockbox_approval_required). */
export const isLockboxRequired = (err: unknown): boolean =>
  err instanceof ApiError && err.status === 403 && err.problem?.code === 'lockbox_approval_required';

/** fetchLogPage reads one page of output from a byte offset. */
export async function fetchLogPage(id: string, offset: number, signal?: AbortSignal): Promise<LogPage> {
  const res = await fetchRaw(path(id, offset, false), signal);
  const text = await res.text();
  const next = Number(res.headers.get('x-next-offset'));
  return {
    text,
    nextOffset: Number.isFinite(next) && next >= offset ? next : offset + new TextEncoder().encode(text).byteLength,
    eof: res.headers.get('x-log-eof') === 'true',
  };
}

export interface LogFollowHandlers {
  /** New text; `offset` is the byte offset after it. */
  onText(text: string, offset: number): void;
  /** The stream ended: the job has ended and all output was sent. */
  onEnd(offset: number): void;
  onError(err: unknown): void;
}

/** followLogs streams output from `offset` until the job ends; returns a function that stops it. */
export function followLogs(id: string, offset: number, h: LogFollowHandlers): () => void {
  const abort = new AbortController();
  let at = offset;
  const run = async () => {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        const res = await fetchRaw(path(id, at, true), abort.signal);
        if (!res.body) throw new Error('the log stream has no body');
        attempt = 0;
        const decoder = new TextDecoder();
        const reader = res.body.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          at += value.byteLength;
          const text = decoder.decode(value, { stream: true });
          if (text) h.onText(text, at);
        }
        const rest = decoder.decode();
        if (rest) h.onText(rest, at);
        h.onEnd(at);
        return;
      } catch (err) {
        if (abort.signal.aborted) return;
        h.onError(err);
        // A driver without logs or a job we may not see will not change its answer: stop.
        if (err instanceof ApiError && (err.status === 404 || err.status === 403 || err.status === 401)) return;
      }
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
    }
  };
  void run();
  return () => abort.abort();
}
