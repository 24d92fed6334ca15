/** The platform operator's first start: one operator user and a token written to the data directory. */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { hashToken, newToken } from '../principal.js';
import { insertToken } from './token-records.js';

/** bootstrapOperator creates the platform operator on first start and returns its one-time token (null: it existed). */
export async function bootstrapOperator(
  store: Store,
  dataDir: string,
  now: () => number = () => Date.now(),
): Promise<{ token: string | null; path: string }> {
  const path = join(dataDir, 'operator-token');
  const existing = await store.db.selectFrom('users').select('id').where('role', '=', 'operator').executeTakeFirst();
  if (existing) return { token: null, path };
  const token = newToken();
  const at = new Date(now()).toISOString();
  await store.write(async (trx) => {
    await trx
      .insertInto('users')
      .values({
        id: 'operator',
        org_id: null,
        name: 'Platform operator',
        email: null,
        role: 'operator',
        created_at: at,
        created_by: 'system:bootstrap',
        disabled_at: null,
        operator_known: 0,
      })
      .execute();
    // The bootstrap token does not expire: it is how the platform is reached at all. Rotate it with
    // `gigafab token create operator` and `gigafab token revoke`.
    await insertToken(trx, {
      hash: hashToken(token),
      userId: 'operator',
      name: 'bootstrap',
      at,
      expiresAt: null,
      createdBy: 'system:bootstrap',
    });
    await appendAudit(trx, {
      at,
      actor: 'system:bootstrap',
      org: null,
      action: 'user.create',
      objectType: 'user',
      objectId: 'operator',
      after: { role: 'operator' },
    });
  });
  if (!existsSync(path)) {
    writeFileSync(path, `${token}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return { token, path };
}
