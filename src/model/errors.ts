/**
 * DomainError: the one error type the services throw for anything a caller did wrong or a
 * dependency refused. It says what kind of failure it is, never an HTTP status: the API edge
 * (src/api/problems.ts) maps the kind to a status and RFC 9457 problem details; the CLI prints the
 * detail.
 */
export interface FieldError {
  path: string;
  message: string;
}

export type DomainErrorKind =
  /** The request is malformed (a bad cursor, filter or value). */
  | 'invalid_request'
  /** The caller could not be identified (no or a rejected credential). */
  | 'unauthenticated'
  /** The caller is known but not allowed. */
  | 'forbidden'
  /** The object does not exist or is not visible to the caller (tenants never learn which). */
  | 'not_found'
  /** The request conflicts with the object's current state. */
  | 'conflict'
  /** Well-formed but impossible (e.g. a job no site could ever host). */
  | 'unprocessable'
  /** A dependency (key provider, identity provider) answered with an error. */
  | 'dependency_failed'
  /** A dependency is not reachable or not configured. */
  | 'unavailable'
  /** The caller sent too much too fast, or holds too much at once (rate limits, caps). */
  | 'rate_limited';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    readonly detail: string,
    readonly errors?: FieldError[],
    /** For rate_limited and unavailable: when to try again (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(detail);
  }
}

export const notFound = (kind: string, id: string) =>
  new DomainError('not_found', `${kind}_not_found`, `${kind.replace('_', ' ')} ${id} does not exist or is not visible to you`);
export const forbidden = (detail: string) => new DomainError('forbidden', 'forbidden', detail);
export const conflict = (code: string, detail: string) => new DomainError('conflict', code, detail);
export const invalid = (code: string, detail: string, errors?: FieldError[]) =>
  new DomainError('unprocessable', code, detail, errors);
export const tooMany = (code: string, detail: string, retryAfterSeconds?: number) =>
  new DomainError('rate_limited', code, detail, undefined, retryAfterSeconds);
