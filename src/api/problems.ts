/** RFC 9457 problem details: building responses and the OpenAPI entries that describe them. */
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { ApiProblem, type FieldError } from '../server/problem.js';
import { ProblemSchema } from './schemas.js';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

export function problemResponse(c: Context, p: ApiProblem): Response {
  const body = {
    type: `https://gigafab.dev/problems/${p.code}`,
    title: TITLES[p.status] ?? 'Error',
    status: p.status,
    code: p.code,
    detail: p.detail,
    instance: c.req.path,
    ...(p.errors?.length ? { errors: p.errors } : {}),
  };
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  // A raw Response skips the headers middleware set on the context: the request id must still go back.
  const requestId = c.get('requestId') as string | undefined;
  if (requestId) headers['x-request-id'] = requestId;
  if (p.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(p.retryAfterSeconds)));
  return new Response(JSON.stringify(body), { status: p.status, headers });
}

export function zodProblem(err: ZodError, where: string): ApiProblem {
  const errors: FieldError[] = err.issues.flatMap((i) => {
    const base = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => ({ path: base ? `${base}.${k}` : k, message: 'unknown field' }));
    }
    return [{ path: base, message: i.message }];
  });
  const first = errors[0];
  const detail = first
    ? `invalid ${where}: ${first.path ? `${first.path}: ` : ''}${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`
    : `invalid ${where}`;
  return new ApiProblem(400, 'validation_failed', detail, errors);
}

const problemContent = { 'application/problem+json': { schema: ProblemSchema } };
/** Problem responses every authenticated route may give. */
export const commonProblems = {
  400: { description: 'Invalid request (validation_failed, malformed_json)', content: problemContent },
  401: { description: 'Missing or wrong token (unauthenticated)', content: problemContent },
  403: { description: 'Not allowed for your role (forbidden)', content: problemContent },
  404: { description: 'Object does not exist or belongs to another tenant', content: problemContent },
  429: {
    description: 'Rate limit or concurrent-stream cap reached (rate_limited, too_many_streams); see Retry-After',
    content: problemContent,
  },
} as const;
export const conflictProblem = {
  409: { description: 'Conflict with current state', content: problemContent },
} as const;
export const unprocessableProblem = {
  422: { description: 'Well-formed but impossible request', content: problemContent },
} as const;
