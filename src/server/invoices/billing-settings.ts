/**
 * What invoicing reads besides usage and prices: each organisation's billing profile (country and
 * VAT id: its admins or an operator set it, audited; it decides the VAT of invoices issued later)
 * and each site's energy factors per month (PUE, grid factor, renewable share, their source: set by
 * operators, audited, read by everyone).
 */
import { canAdminOrg, canSeeOrg, enforce, operatorOnly } from '../../model/authz.js';
import type { EnergyFactors, EnergyFactorsInput } from '../../model/energy.js';
import { invalid, notFound } from '../../model/errors.js';
import type { Fleet } from '../../model/fleet.js';
import { type BillingProfile, isMonth, vatFor } from '../../model/invoices.js';
import type { Principal, RequestContext } from '../../model/principal.js';
import { appendAudit } from '../../store/audit.js';
import type { Store } from '../../store/open-store.js';

export class BillingSettings {
  constructor(
    private readonly store: Store,
    private readonly fleet: Pick<Fleet, 'sites'>,
    private readonly now: () => number,
  ) {}

  async setProfile(ctx: RequestContext, org: string, input: { country: string; vatId?: string | null }): Promise<BillingProfile> {
    enforce(canSeeOrg(ctx.principal, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const exists = await this.store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
    if (!exists) throw notFound('org', org);
    enforce(canAdminOrg(ctx.principal, org), "only the organisation's admins and operators set its billing profile");
    const country = input.country.toUpperCase();
    if (!/^[A-Z]{2}$/.test(country)) {
      throw invalid('invalid_country', `country is an ISO 3166-1 alpha-2 code such as DE or FR, not ${input.country}`, [
        { path: 'country', message: 'two letters' },
      ]);
    }
    const vatId = input.vatId ?? null;
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      const values = { country, vat_id: vatId, updated_at: at, updated_by: ctx.principal.userId };
      await trx
        .insertInto('billing_profiles')
        .values({ org_id: org, ...values })
        .onConflict((oc) => oc.column('org_id').doUpdateSet(values))
        .execute();
      await appendAudit(trx, {
        at,
        actor: ctx.principal.userId,
        org,
        action: 'billing-profile.set',
        objectType: 'billing_profile',
        objectId: org,
        after: { country, vatId },
        requestId: ctx.requestId,
      });
    });
    return this.profile(ctx.principal, org);
  }

  /** profile: the organisation's billing profile; without one, Germany without a VAT id. */
  async profile(p: Principal, org: string): Promise<BillingProfile> {
    enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const exists = await this.store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
    if (!exists) throw notFound('org', org);
    const row = await this.store.db.selectFrom('billing_profiles').selectAll().where('org_id', '=', org).executeTakeFirst();
    const country = row?.country ?? 'DE';
    const vatId = row?.vat_id ?? null;
    const vat = vatFor(country, vatId);
    return { org, country, vatId, vatRatePercent: vat.ratePercent, vatNote: vat.note };
  }

  async setEnergyFactors(ctx: RequestContext, input: EnergyFactorsInput): Promise<EnergyFactors> {
    const site = input.site;
    enforce(operatorOnly(ctx.principal), "only platform operators set a site's energy factors");
    if (!this.fleet.sites.some((s) => s.id === site)) throw notFound('site', site);
    if (!isMonth(input.month)) {
      throw invalid('invalid_month', `month is a calendar month as YYYY-MM, not ${input.month}`, [
        { path: 'month', message: 'e.g. 2026-11' },
      ]);
    }
    const at = new Date(this.now()).toISOString();
    const values = {
      pue: input.pue,
      grid_g_co2_per_kwh: input.gridGCo2PerKwh,
      renewable_share: input.renewableShare ?? null,
      source: input.source,
      updated_at: at,
      updated_by: ctx.principal.userId,
    };
    await this.store.write(async (trx) => {
      await trx
        .insertInto('energy_factors')
        .values({ site, month: input.month, ...values })
        .onConflict((oc) => oc.columns(['site', 'month']).doUpdateSet(values))
        .execute();
      await appendAudit(trx, {
        at,
        actor: ctx.principal.userId,
        org: null,
        action: 'energy-factors.set',
        objectType: 'site',
        objectId: `${site}/${input.month}`,
        after: input,
        requestId: ctx.requestId,
      });
    });
    return {
      site,
      month: input.month,
      pue: input.pue,
      gridGCo2PerKwh: input.gridGCo2PerKwh,
      renewableShare: input.renewableShare ?? null,
      source: input.source,
      updatedAt: at,
    };
  }

  /** energyFactors: the sites' factors (or one site's), by site and month (public: they name no tenant). */
  async energyFactors(site?: string): Promise<EnergyFactors[]> {
    if (site !== undefined && !this.fleet.sites.some((s) => s.id === site)) throw notFound('site', site);
    let sel = this.store.db.selectFrom('energy_factors').selectAll();
    if (site !== undefined) sel = sel.where('site', '=', site);
    const rows = await sel.orderBy('site').orderBy('month').execute();
    return rows.map((r) => ({
      site: r.site,
      month: r.month,
      pue: r.pue,
      gridGCo2PerKwh: r.grid_g_co2_per_kwh,
      renewableShare: r.renewable_share,
      source: r.source,
      updatedAt: r.updated_at,
    }));
  }
}
