/**
 * Restriction of processing (GDPR Art. 18): an organisation's processing is frozen without erasing
 * anything. New submissions are refused (409 processing_restricted), queued jobs stay queued with
 * the reason, running jobs are stopped and requeued (held). Lifting it lets the queue run again.
 * The control plane consults holdReason() each cycle; the state lives in org_restrictions.
 */

import { canAdminOrg, enforce } from '../model/authz.js';
import { conflict, DomainError, notFound } from '../model/errors.js';
import type { PendingReason } from '../model/job.js';
import type { Principal } from '../model/principal.js';
import type { RestrictionCycle } from '../server/ports.js';
import type { Tenancy } from '../server/tenancy/index.js';
import { appendAudit } from '../store/audit.js';
import { type KeysDb, keysDb, keysTrx } from '../store/keys-tables.js';
import type { Store } from '../store/open-store.js';

export interface RestrictionState {
  org: string;
  restricted: boolean;
  reason: string | null;
  since: string | null;
  restrictedBy: string | null;
  /** Jobs stopped and requeued by this call (restrict only). */
  heldJobs?: string[];
}

interface Held {
  reason: string;
  since: string;
  by: string;
}

export class Restrictions {
  private readonly db: KeysDb;
  private readonly byOrg = new Map<string, Held>();

  constructor(
    private readonly store: Store,
    private readonly cp: RestrictionCycle,
    private readonly tenancy: Tenancy,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.db = keysDb(store.db);
  }

  async load(): Promise<void> {
    // Loaded again when a replica takes the scheduler over: restrictions lifted meanwhile are gone.
    this.byOrg.clear();
    for (const r of await this.db.selectFrom('org_restrictions').selectAll().execute()) {
      this.byOrg.set(r.org_id, { reason: r.reason, since: r.since, by: r.restricted_by });
    }
  }

  /** holdRecovered stops jobs of restricted organisations that were reattached after a restart. */
  async holdRecovered(): Promise<void> {
    for (const [org, h] of this.byOrg) await this.cp.holdRunning(org, 'system:restriction', h.reason);
  }

  /** The hook the scheduling cycle consults: why this organisation's jobs must not start. */
  holdReason(org: string): PendingReason | null {
    const h = this.byOrg.get(org);
    if (!h) return null;
    return {
      code: 'processing_restricted',
      message: `waiting: processing for organisation ${org} is restricted since ${h.since} (${h.reason}); jobs start again when the restriction is lifted`,
    };
  }

  /** admit refuses new work for a restricted organisation. */
  admit(org: string): void {
    const h = this.byOrg.get(org);
    if (h) {
      throw conflict(
        'processing_restricted',
        `processing for organisation ${org} is restricted since ${h.since} (${h.reason}); new jobs are refused until an admin lifts the restriction`,
      );
    }
  }

  /** hold is set in memory by erasure before anything else, so nothing starts meanwhile. */
  holdInMemory(org: string, reason: string, by: string): void {
    this.byOrg.set(org, { reason, since: new Date(this.now()).toISOString(), by });
  }

  private async authorize(p: Principal, org: string): Promise<void> {
    await this.tenancy.orgs.get(p, org);
    enforce(canAdminOrg(p, org), 'only organisation admins and operators can restrict processing');
  }

  private async erased(org: string): Promise<boolean> {
    return !!(await this.db.selectFrom('org_erasures').select('org_id').where('org_id', '=', org).executeTakeFirst());
  }

  async get(p: Principal, org: string): Promise<RestrictionState> {
    await this.tenancy.orgs.get(p, org);
    const h = this.byOrg.get(org);
    return { org, restricted: !!h, reason: h?.reason ?? null, since: h?.since ?? null, restrictedBy: h?.by ?? null };
  }

  async restrict(p: Principal, org: string, reason: string, requestId: string): Promise<RestrictionState> {
    await this.authorize(p, org);
    if (this.byOrg.has(org)) throw conflict('already_restricted', `processing for organisation ${org} is already restricted`);
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      await keysTrx(trx)
        .insertInto('org_restrictions')
        .values({ org_id: org, reason, restricted_by: p.userId, since: at })
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: 'org.restrict',
        objectType: 'org',
        objectId: org,
        before: { restricted: false },
        after: { restricted: true, reason },
        requestId,
      });
    });
    this.byOrg.set(org, { reason, since: at, by: p.userId });
    const heldJobs = await this.cp.holdRunning(org, p.userId, reason, requestId);
    this.cp.wake();
    return { org, restricted: true, reason, since: at, restrictedBy: p.userId, heldJobs };
  }

  async lift(p: Principal, org: string, requestId: string): Promise<RestrictionState> {
    await this.authorize(p, org);
    if (await this.erased(org))
      throw new DomainError('conflict', 'org_erased', `organisation ${org} was erased; processing stays stopped`);
    const h = this.byOrg.get(org);
    if (!h) throw notFound('restriction', org);
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      await keysTrx(trx).deleteFrom('org_restrictions').where('org_id', '=', org).execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: 'org.unrestrict',
        objectType: 'org',
        objectId: org,
        before: { restricted: true, reason: h.reason, since: h.since },
        after: { restricted: false },
        requestId,
      });
    });
    this.byOrg.delete(org);
    this.cp.wake();
    return { org, restricted: false, reason: null, since: null, restrictedBy: null };
  }
}
