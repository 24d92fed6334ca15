/**
 * The audit head a verifier keeps outside the database (`gigafab audit verify --save-head FILE`) and
 * gives back later (`--since-head FILE`): proof that the log still contains it and extends it, which
 * no database-only check can give for records removed together with their checkpoints.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CliError } from './context.js';

export interface HeldHead {
  /** `all` (the whole log) or the organisation's id: a head only proves something about its own chain. */
  scope: string;
  id: number;
  hash: string;
  keyId: string;
  savedAt: string;
}

/** scopeId maps a report's scope text ("whole log", "organisation acme") or an export's scope to the head's. */
export function scopeId(scope: string): string {
  if (scope === 'whole log' || scope === 'all') return 'all';
  return scope.replace(/^organisation /, '');
}

export async function readHead(path: string): Promise<HeldHead> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read the held head ${path}: ${(err as Error).message}`);
  }
  const h = parsed as Partial<HeldHead>;
  if (typeof h.scope !== 'string' || !Number.isInteger(h.id) || typeof h.hash !== 'string' || !/^[0-9a-f]{64}$/.test(h.hash))
    throw new CliError(`${path} is not a saved audit head (from gigafab audit verify --save-head)`);
  return h as HeldHead;
}

/** checkScope refuses a head of another chain (an organisation's head says nothing about the whole log). */
export function checkScope(held: HeldHead, scope: string): void {
  if (held.scope !== scopeId(scope))
    throw new CliError(`the held head is for scope ${held.scope}, but this verify covers ${scopeId(scope)}`);
}

export async function saveHead(path: string, scope: string, head: { id: number; hash: string }, keyId: string): Promise<void> {
  const h: HeldHead = { scope: scopeId(scope), id: head.id, hash: head.hash, keyId, savedAt: new Date().toISOString() };
  await writeFile(path, `${JSON.stringify(h, null, 2)}\n`);
}
