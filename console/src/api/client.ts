/**
 * The console's only way to the server: the public REST API with a bearer token, exactly as the
 * CLI uses it. Errors arrive as RFC 9457 problems and are thrown as ApiError. A 401 anywhere ends
 * the session (the token expired or was revoked) and sends the user back to the login screen.
 */
import { clearToken, getToken } from '../auth/session.js';
import type { FieldError, Problem } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    message: string,
  ) {
    super(message);
  }
  get fieldErrors(): FieldError[] {
    return this.problem?.errors ?? [];
  }
}

type Listener = (message: string) => void;
const sessionEndListeners = new Set<Listener>();

/** onSessionEnd registers a callback for "the server rejected our token". */
export function onSessionEnd(fn: Listener): () => void {
  sessionEndListeners.add(fn);
  return () => sessionEndListeners.delete(fn);
}

export function endSession(message: string): void {
  clearToken();
  for (const fn of sessionEndListeners) fn(message);
}

async function toError(res: Response): Promise<ApiError> {
  const text = await res.text();
  let problem: Problem | null = null;
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object' && 'code' in body && 'detail' in body) problem = body as Problem;
  } catch {
    // Not JSON (a proxy's error page, say): fall back to the status line.
  }
  return new ApiError(res.status, problem, problem?.detail ?? `${res.status} ${res.statusText}`);
}

/**
 * fetchRaw sends one authenticated GET for a non-JSON resource (a job's log) and returns the
 * response when it is 2xx; otherwise it throws ApiError like request (a 401 ends the session).
 */
export async function fetchRaw(path: string, signal?: AbortSignal, accept = 'text/plain'): Promise<Response> {
  const token = getToken();
  const headers: Record<string, string> = { accept };
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { headers, signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, null, 'cannot reach the gigafab server; check your connection');
  }
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && token === getToken()) {
      endSession('Your session ended: the server no longer accepts your token (expired or revoked). Sign in again.');
    }
    throw err;
  }
  return res;
}

/** request sends one API call with the session's token (or `token` when signing in). */
export async function request<T>(method: string, path: string, body?: unknown, token = getToken()): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, null, 'cannot reach the gigafab server; check your connection');
  }
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && token === getToken()) {
      endSession('Your session ended: the server no longer accepts your token (expired or revoked). Sign in again.');
    }
    throw err;
  }
  // 204 No Content (a deletion): nothing to parse.
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T>(path: string) => request<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => request<T>('POST', path, body);
export const put = <T>(path: string, body?: unknown) => request<T>('PUT', path, body);
export const patch = <T>(path: string, body?: unknown) => request<T>('PATCH', path, body);
export const del = <T>(path: string) => request<T>('DELETE', path);

/**
 * download saves an authenticated resource (a report as CSV or JSON) as a file: the bearer token
 * cannot ride on a plain link, so the body is fetched and handed to the browser as a blob.
 */
export async function download(path: string, filename: string, accept: string): Promise<void> {
  const res = await fetchRaw(path, undefined, accept);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** qs builds a query string from the defined values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
