/**
 * followJobEvents reads /v1/jobs/{id}/events/stream. EventSource cannot send an Authorization
 * header, so the stream is read with fetch and parsed with the CLI's SSE parser (one parser for
 * both clients). Reconnects with Last-Event-ID until the server sends `end`.
 */
import { SseParser } from '../../../src/cli/sse.js';
import { getToken } from '../auth/session.js';
import { endSession } from './client.js';
import type { JobEvent, JobState } from './types.js';

export interface JobEventHandlers {
  onEvent(e: JobEvent): void;
  onEnd(state: JobState): void;
  onError(message: string): void;
}

export function followJobEvents(id: string, h: JobEventHandlers): () => void {
  const abort = new AbortController();
  let lastId: string | undefined;
  let ended = false;

  const run = async () => {
    for (let attempt = 0; !abort.signal.aborted && !ended; attempt++) {
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${getToken() ?? ''}` };
        if (lastId) headers['last-event-id'] = lastId;
        const res = await fetch(`/v1/jobs/${encodeURIComponent(id)}/events/stream`, { headers, signal: abort.signal });
        if (res.status === 401) {
          endSession('Your session ended: the server no longer accepts your token (expired or revoked). Sign in again.');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}`);
        attempt = 0;
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const ev of parser.push(value)) {
            if (ev.event === 'job-event') {
              lastId = ev.id;
              h.onEvent(JSON.parse(ev.data) as JobEvent);
            } else if (ev.event === 'end') {
              ended = true;
              h.onEnd((JSON.parse(ev.data) as { state: JobState }).state);
            }
          }
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        h.onError(err instanceof Error ? err.message : String(err));
      }
      if (!ended && !abort.signal.aborted) await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
    }
  };
  void run();
  return () => abort.abort();
}
