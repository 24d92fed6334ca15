/** Organisations: created by operators, visible to operators and to their own users (others: 404). */
import { canAdminOrg, canSeeOrg, enforce, isOperator, operatorOnly } from '../../model/authz.js';
import { conflict, notFound } from '../../model/errors.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import type { Org, OrgKind } from '../../model/schemas.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';
import { uniqueOr } from './user-views.js';

export class Orgs {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  async create(ctx: RequestContext, input: { id: string; name: string; kind: OrgKind }): Promise<Org> {
    const { principal: p, requestId } = ctx;
    enforce(operatorOnly(p), 'only platform operators can create organisations');
    const at = new Date(this.now()).toISOString();
    await uniqueOr(
      () =>
        this.store.write(async (trx) => {
          await trx.insertInto('orgs').values({ id: input.id, name: input.name, kind: input.kind, created_at: at }).execute();
          await appendAudit(trx, {
            at,
            actor: p.userId,
            org: input.id,
            action: 'org.create',
            objectType: 'org',
            objectId: input.id,
            after: input,
            requestId,
          });
        }),
      conflict('org_exists', `organisation ${input.id} already exists`),
    );
    return { ...input, createdAt: at };
  }

  async list(p: Principal): Promise<Org[]> {
    let q = this.store.db.selectFrom('orgs').selectAll().orderBy('id');
    if (!isOperator(p)) q = q.where('id', '=', p.org ?? '');
    return (await q.execute()).map((r) => ({ id: r.id, name: r.name, kind: r.kind as OrgKind, createdAt: r.created_at }));
  }

  /** get: the organisation if `p` may see it; other tenants' (and missing ones) are not found. */
  async get(p: Principal, id: string): Promise<Org> {
    enforce(canSeeOrg(p, id), `organisation ${id} is not yours`, { kind: 'org', id });
    const r = await this.store.db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('org', id);
    return { id: r.id, name: r.name, kind: r.kind as OrgKind, createdAt: r.created_at };
  }

  /** requireAdmin: operators and the organisation's admins; other tenants get 404. */
  async requireAdmin(p: Principal, org: string, what: string): Promise<void> {
    await this.get(p, org);
    enforce(canAdminOrg(p, org), `only organisation admins can ${what}`);
  }
}
