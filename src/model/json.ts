/**
 * Typed JSON parsing: a stored or received JSON text is checked against its schema instead of cast
 * (`JSON.parse(x) as T` trusts whatever a row, a file or a peer happens to hold).
 */
import type { z } from 'zod';

/** JsonShapeError: a JSON text that does not parse or does not match its schema; `what` names it. */
export class JsonShapeError extends Error {
  constructor(
    readonly what: string,
    detail: string,
  ) {
    super(`${what}: ${detail}`);
    this.name = 'JsonShapeError';
  }
}

/** parseJson parses `text` and validates it with `schema`; throws JsonShapeError naming `what`. */
export function parseJson<S extends z.ZodType>(text: string, schema: S, what: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new JsonShapeError(what, `not JSON (${(e as Error).message})`);
  }
  const r = schema.safeParse(value);
  if (!r.success)
    throw new JsonShapeError(what, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  return r.data;
}
