/**
 * ApiProblem: the one error type the service layer throws for anything a caller did wrong.
 * The API turns it into RFC 9457 problem details; the CLI prints its detail.
 */
export interface FieldError {
  path: string;
  message: string;
}

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

export const notFound = (kind: string, id: string) =>
  new ApiProblem(404, `${kind}_not_found`, `${kind.replace('_', ' ')} ${id} does not exist or is not visible to you`);
export const forbidden = (detail: string) => new ApiProblem(403, 'forbidden', detail);
export const conflict = (code: string, detail: string) => new ApiProblem(409, code, detail);
export const invalid = (code: string, detail: string, errors?: FieldError[]) => new ApiProblem(422, code, detail, errors);
export const tooMany = (code: string, detail: string, retryAfterSeconds?: number) =>
  new ApiProblem(429, code, detail, undefined, retryAfterSeconds);
