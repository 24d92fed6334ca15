/**
 * problemText: the sentence to show for a failed call. An API problem's `detail` (RFC 9457) is
 * already a sentence for people; when several fields are wrong, each is named after it.
 */
import { ApiError } from '../api/client.js';

export function problemText(err: unknown): string {
  if (err instanceof ApiError) {
    const fields = err.fieldErrors;
    if (fields.length <= 1) return err.message;
    return `${err.message}: ${fields.map((f) => (f.path ? `${f.path}: ${f.message}` : f.message)).join('; ')}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** useAction-style helper state is kept per view; this runs one call and reports its problem sentence. */
export async function attempt<T>(
  run: () => Promise<T>,
  setError: (m: string | null) => void,
  setBusy?: (b: boolean) => void,
): Promise<T | null> {
  setBusy?.(true);
  setError(null);
  try {
    return await run();
  } catch (err) {
    setError(problemText(err));
    return null;
  } finally {
    setBusy?.(false);
  }
}
