/**
 * Organisation registry allow-lists: the registry hosts an organisation's job images may come from,
 * set by its admins or an operator (audited in the same transaction), kept in memory in the
 * scheduling state (loaded at recover) where submission and enqueue read it (drivers/runnable.ts).
 * An empty list lifts the organisation's restriction; the sites' own lists apply either way.
 */
import { canAdminOrg, canSeeOrg, enforce } from '../model/authz.js';
import { notFound } from '../model/errors.js';
import type { Principal, RequestContext } from '../model/principal.js';
import { normaliseRegistries, type OrgRegistries } from '../model/registries.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import type { SchedulingState } from './cycle/scheduling-state.js';

export class OrgRegistryLists {
  constructor(
    private readonly store: Store,
    private readonly state: Pick<SchedulingState, 'orgRegistries' | 'reconstrainQueued'>,
    private readonly now: () => number,
  ) {}

  /** load: every organisation's list from the store into memory (at recover). */
  async load(): Promise<void> {
    const rows = await this.store.db.selectFrom('org_registries').select(['org_id', 'pattern']).orderBy('pattern').execute();
    const byOrg = new Map<string, string[]>();
    for (const r of rows) byOrg.set(r.org_id, [...(byOrg.get(r.org_id) ?? []), r.pattern]);
    this.state.orgRegistries.clear();
    for (const [org, list] of byOrg) this.state.orgRegistries.set(org, list);
  }

  async set(ctx: RequestContext, org: string, patterns: readonly string[]): Promise<OrgRegistries> {
    await this.visibleOrg(ctx.principal, org);
    enforce(canAdminOrg(ctx.principal, org), "only the organisation's admins and operators set its registry allow-list");
    const registries = normaliseRegistries(patterns).sort();
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      const before = await trx
        .selectFrom('org_registries')
        .select('pattern')
        .where('org_id', '=', org)
        .orderBy('pattern')
        .execute();
      await trx.deleteFrom('org_registries').where('org_id', '=', org).execute();
      if (registries.length > 0)
        await trx
          .insertInto('org_registries')
          .values(registries.map((pattern) => ({ org_id: org, pattern, updated_at: at, updated_by: ctx.principal.userId })))
          .execute();
      await appendAudit(trx, {
        at,
        actor: ctx.principal.userId,
        org,
        action: 'org.registries.set',
        objectType: 'org',
        objectId: org,
        before: { registries: before.map((b) => b.pattern) },
        after: { registries },
        requestId: ctx.requestId,
      });
    });
    // Only after the commit: a refused write leaves the old list in force.
    if (registries.length > 0) this.state.orgRegistries.set(org, registries);
    else this.state.orgRegistries.delete(org);
    this.state.reconstrainQueued();
    return { org, registries };
  }

  async get(p: Principal, org: string): Promise<OrgRegistries> {
    await this.visibleOrg(p, org);
    return { org, registries: [...(this.state.orgRegistries.get(org) ?? [])] };
  }

  /** visibleOrg: 404 for another organisation (its existence is not told) and for one that does not exist. */
  private async visibleOrg(p: Principal, org: string): Promise<void> {
    enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const exists = await this.store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
    if (!exists) throw notFound('org', org);
  }
}
