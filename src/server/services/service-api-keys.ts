/**
 * A public service's own API keys: its organisation's admins issue (the key is shown once, only its
 * SHA-256 is stored) and revoke them, each audited. The proxy accepts such a key for that service
 * only (service-targets.ts checkApiKey); a key is no gigafab API token and opens nothing else.
 */
import { randomBytes } from 'node:crypto';
import { canAdminAsTenant, canSeeOrg, enforce } from '../../model/authz.js';
import { conflict, notFound } from '../../model/errors.js';
import type { RequestContext } from '../../model/principal.js';
import type { ServiceApiKey } from '../../model/service-schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import type { ServiceApiKeysTable } from '../../store/schema-services.js';
import { hashApiKey } from './service-targets.js';

const view = (r: ServiceApiKeysTable): ServiceApiKey => ({
  id: r.id,
  serviceId: r.service_id,
  name: r.name,
  createdBy: r.created_by,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

export class ServiceApiKeys {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  async issue(rc: RequestContext, serviceId: string, name: string): Promise<ServiceApiKey & { key: string }> {
    const svc = await this.service(rc, serviceId);
    enforce(canAdminAsTenant(rc.principal, svc.org_id), "only the organisation's admins issue a service's API keys");
    const key = `gfs_${randomBytes(32).toString('base64url')}`;
    const at = new Date(this.now()).toISOString();
    const row: ServiceApiKeysTable = {
      id: `sk-${randomBytes(6).toString('hex')}`,
      service_id: serviceId,
      org_id: svc.org_id,
      name,
      hash: hashApiKey(key),
      created_by: rc.principal.userId,
      created_at: at,
      revoked_at: null,
    };
    await this.store.write(async (trx) => {
      await trx.insertInto('service_api_keys').values(row).execute();
      await appendAudit(trx, {
        at,
        actor: rc.principal.userId,
        org: svc.org_id,
        action: 'service.api-key.issue',
        objectType: 'service',
        objectId: serviceId,
        after: { keyId: row.id },
        requestId: rc.requestId,
      });
    });
    return { ...view(row), key };
  }

  async list(rc: RequestContext, serviceId: string): Promise<ServiceApiKey[]> {
    await this.service(rc, serviceId);
    const rows = await this.store.db
      .selectFrom('service_api_keys')
      .selectAll()
      .where('service_id', '=', serviceId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(view);
  }

  async revoke(rc: RequestContext, serviceId: string, keyId: string): Promise<ServiceApiKey> {
    const svc = await this.service(rc, serviceId);
    enforce(canAdminAsTenant(rc.principal, svc.org_id), "only the organisation's admins revoke a service's API keys");
    const row = await this.store.db
      .selectFrom('service_api_keys')
      .selectAll()
      .where('id', '=', keyId)
      .where('service_id', '=', serviceId)
      .executeTakeFirst();
    if (!row) throw notFound('api_key', keyId);
    if (row.revoked_at) throw conflict('api_key_revoked', `API key ${keyId} was revoked at ${row.revoked_at}`);
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      await trx.updateTable('service_api_keys').set({ revoked_at: at }).where('id', '=', keyId).execute();
      await appendAudit(trx, {
        at,
        actor: rc.principal.userId,
        org: svc.org_id,
        action: 'service.api-key.revoke',
        objectType: 'service',
        objectId: serviceId,
        before: { keyId },
        requestId: rc.requestId,
      });
    });
    return view({ ...row, revoked_at: at });
  }

  private async service(rc: RequestContext, id: string) {
    const row = await this.store.db
      .selectFrom('services')
      .select(['id', 'org_id'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row || !canSeeOrg(rc.principal, row.org_id).allowed) throw notFound('service', id);
    return row;
  }
}
