/**
 * Page cursors: opaque to clients, base64url of a positive canonical decimal (an id or an index). Anything
 * else, including the empty string that a lenient base64 decoder makes of garbage, is refused.
 */
import { invalid } from '../model/errors.js';

export const encodeCursor = (n: number | string): string => Buffer.from(String(n)).toString('base64url');

/** decodeCursor returns the number a cursor carries, or throws 422 invalid_cursor. */
export function decodeCursor(cursor: string): number {
  const text = /^[A-Za-z0-9_-]{1,24}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('latin1') : '';
  // Round-trip: a cursor is valid only in the exact spelling this server issues.
  if (!/^[1-9][0-9]{0,15}$/.test(text) || encodeCursor(text) !== cursor) {
    throw invalid('invalid_cursor', 'cursor is not one this server issued: pass the nextCursor of the previous page unchanged');
  }
  return Number(text);
}
