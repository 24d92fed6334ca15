/** RFC 9457 problem details: building responses and the OpenAPI entries that describe them. */
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { DomainError, type DomainErrorKind, type FieldError } from '../model/errors.js';
import { issueErrors, validationDetail } from '../model/validation-messages.js';
import { ProblemSchema } from './http-schemas.js';

/** ApiProblem: an error with its HTTP status, made only here at the API edge. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors?: FieldError[],
    /** For 429 and 503: when to try again (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(detail);
  }
}

/** The one mapping from a domain error's kind to an HTTP status. */
const STATUS: Record<DomainErrorKind, number> = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  dependency_failed: 502,
  unavailable: 503,
  rate_limited: 429,
};

/** toProblem maps a domain error to its problem; anything else is not the caller's fault (null). */
export function toProblem(err: unknown): ApiProblem | null {
  if (err instanceof ApiProblem) return err;
  if (err instanceof DomainError)
    return new ApiProblem(STATUS[err.kind], err.code, err.detail, err.errors, err.retryAfterSeconds);
  return null;
}

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
  502: 'Bad Gateway',
  503: 'Service Unavailable',
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

/** zodProblem: a validation failure as validation_failed, one plain sentence per field (model/validation-messages). */
export function zodProblem(err: ZodError, where: string): ApiProblem {
  const errors = issueErrors(err.issues, `the ${where}`);
  return new ApiProblem(400, 'validation_failed', validationDetail(where, errors), errors);
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
