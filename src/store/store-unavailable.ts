/**
 * When the database cannot be reached, the store says so with one domain error (`store_unavailable`,
 * retry later) instead of a driver-specific one, so the API can answer 503 + Retry-After.
 * The transaction that met the failure is rolled back by the database: nothing is half-written.
 */
import { DomainError } from '../model/errors.js';

/** Node socket errors that mean "no connection", not "bad query". */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOENT', 'EPIPE']);
/** PostgreSQL SQLSTATEs that mean the server is gone, going or full: class 08 plus these. */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '25006']);

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** isUnavailable: the error says the database is unreachable (not that the statement was wrong). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof DomainError) return err.code === 'store_unavailable';
  const code = codeOf(err);
  if (code && (SOCKET_CODES.has(code) || SQLSTATES.has(code) || code.startsWith('08'))) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
}

/** isSerializationFailure: the database aborted the transaction so that rerunning it may succeed. */
export function isSerializationFailure(err: unknown): boolean {
  const code = codeOf(err);
  return code === '40001' || code === '40P01';
}

/** Errors of a COMMIT whose outcome is unknown (the connection was lost while it was on its way). */
const unknownOutcomes = new WeakSet<object>();

/**
 * isOutcomeUnknown: the error is a lost connection during COMMIT — the transaction may have committed.
 * A caller that changed memory on the assumption "not committed" must read the store again.
 */
export function isOutcomeUnknown(err: unknown): boolean {
  return typeof err === 'object' && err !== null && unknownOutcomes.has(err);
}

/**
 * storeUnavailable: the database could not be reached. `atCommit`: the connection was lost while the
 * COMMIT was on its way, so whether it took effect is unknown (say so; a retry with the same
 * Idempotency-Key is safe either way).
 */
export function storeUnavailable(cause: unknown, atCommit = false): DomainError {
  const why = cause instanceof Error ? cause.message : String(cause);
  const outcome = atCommit
    ? 'the connection was lost while committing, so the change may or may not have been saved; retry with the same Idempotency-Key'
    : 'nothing was changed. Try again shortly';
  const err = new DomainError(
    'unavailable',
    'store_unavailable',
    `The database is not reachable (${why}); ${outcome}.`,
    undefined,
    2,
  );
  err.cause = cause;
  if (atCommit) unknownOutcomes.add(err);
  return err;
}

/** asStoreError: the error to hand on — a connection failure becomes `store_unavailable`. */
export function asStoreError(err: unknown): unknown {
  return !(err instanceof DomainError) && isUnavailable(err) ? storeUnavailable(err) : err;
}
