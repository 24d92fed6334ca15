/**
 * The price book: operators add a version (prices per GPU type and class, a granularity, the
 * instant it takes effect; never in the past, so no price changes retroactively), audited in the
 * same transaction; everyone reads the version in effect at an instant, or all of them.
 */
import { enforce, operatorOnly } from '../model/authz.js';
import { PriceTimeline } from '../model/cost.js';
import { DomainError, invalid } from '../model/errors.js';
import type { Fleet } from '../model/fleet.js';
import {
  BILLING_GRANULARITIES,
  type BillingGranularity,
  type CostEstimate,
  PRICE_CLASSES,
  type PriceClass,
  type PriceVersion,
  type PriceVersionInput,
} from '../model/prices.js';
import type { RequestContext } from '../model/principal.js';
import { appendAudit } from '../store/audit.js';
import type { Db, Store } from '../store/open-store.js';
import { estimateCost } from './cost-estimate.js';
import { forgetPriceVersions } from './metering.js';

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
const isClass = (c: string): c is PriceClass => (PRICE_CLASSES as readonly string[]).includes(c);
const isGranularity = (g: string): g is BillingGranularity => (BILLING_GRANULARITIES as readonly string[]).includes(g);

/** parseInstant: an ISO 8601 date or date-time in epoch ms, or a 422 naming the field. */
export function parseInstant(field: string, v: string): number {
  const t = Date.parse(v);
  if (!ISO_INSTANT.test(v) || Number.isNaN(t)) {
    throw invalid('invalid_instant', `${field} is not an ISO 8601 date or date-time: ${v}`, [
      { path: field, message: 'expected e.g. 2027-01-01T00:00:00Z' },
    ]);
  }
  return t;
}

/** priceVersionsOf: every version, oldest first, as `db` (the store or a transaction) sees them. */
export async function priceVersionsOf(db: Db): Promise<PriceVersion[]> {
  // One after the other: a transaction's single connection runs one statement at a time.
  const rows = await db.selectFrom('price_versions').selectAll().orderBy('version').execute();
  const prices = await db.selectFrom('prices').selectAll().orderBy('version').orderBy('gpu_type').orderBy('class').execute();
  return rows.map((r) => ({
    version: r.version,
    effectiveFrom: r.effective_from,
    granularity: isGranularity(r.granularity) ? r.granularity : 'second',
    prices: prices
      .filter((p) => p.version === r.version)
      .map((p) => ({
        gpuType: p.gpu_type,
        class: isClass(p.class) ? p.class : 'on-demand',
        centsPerGpuHour: p.cents_per_gpu_hour,
      })),
    createdAt: r.created_at,
    createdBy: r.created_by,
  }));
}

export class PriceBook {
  constructor(
    private readonly store: Store,
    private readonly fleet: Pick<Fleet, 'gpuTypes' | 'nodeTypes'>,
    private readonly now: () => number,
  ) {}

  /** set adds a version; it takes effect at `effectiveFrom` (default now), which may not be in the past. */
  async set(ctx: RequestContext, input: PriceVersionInput): Promise<PriceVersion> {
    enforce(operatorOnly(ctx.principal), 'only platform operators set prices');
    const now = this.now();
    const from = input.effectiveFrom === undefined ? now : parseInstant('effectiveFrom', input.effectiveFrom);
    if (from < now) {
      throw invalid(
        'price_retroactive',
        `effectiveFrom ${new Date(from).toISOString()} is in the past; prices are not changed retroactively (use now or later)`,
        [{ path: 'effectiveFrom', message: 'now or later' }],
      );
    }
    const seen = new Set<string>();
    input.prices.forEach((p, i) => {
      if (!this.fleet.gpuTypes.includes(p.gpuType)) {
        throw invalid('unknown_gpu_type', `GPU type ${p.gpuType} is not in the fleet (${this.fleet.gpuTypes.join(', ')})`, [
          { path: `prices.${i}.gpuType`, message: `one of ${this.fleet.gpuTypes.join(', ')}` },
        ]);
      }
      if (!isClass(p.class)) {
        throw invalid('unknown_price_class', `class ${p.class} is not a price class (${PRICE_CLASSES.join(', ')})`, [
          { path: `prices.${i}.class`, message: `one of ${PRICE_CLASSES.join(', ')}` },
        ]);
      }
      const k = `${p.gpuType} ${p.class}`;
      if (seen.has(k)) throw invalid('duplicate_price', `the version prices ${k} twice; give each type and class once`);
      seen.add(k);
    });
    const at = new Date(now).toISOString();
    const effectiveFrom = new Date(from).toISOString();
    return this.store.write(async (trx) => {
      const last = await trx
        .selectFrom('price_versions')
        .select('version')
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      const version = (last?.version ?? 0) + 1;
      forgetPriceVersions(trx);
      await trx
        .insertInto('price_versions')
        .values({
          version,
          effective_from: effectiveFrom,
          granularity: input.granularity,
          created_at: at,
          created_by: ctx.principal.userId,
        })
        .execute();
      await trx
        .insertInto('prices')
        .values(
          input.prices.map((p) => ({ version, gpu_type: p.gpuType, class: p.class, cents_per_gpu_hour: p.centsPerGpuHour })),
        )
        .execute();
      const created: PriceVersion = {
        version,
        effectiveFrom,
        granularity: input.granularity,
        prices: input.prices.map((p) => ({
          gpuType: p.gpuType,
          class: isClass(p.class) ? p.class : 'on-demand',
          centsPerGpuHour: p.centsPerGpuHour,
        })),
        createdAt: at,
        createdBy: ctx.principal.userId,
      };
      await appendAudit(trx, {
        at,
        actor: ctx.principal.userId,
        org: null,
        action: 'price.set',
        objectType: 'price_version',
        objectId: String(version),
        after: { effectiveFrom, granularity: input.granularity, prices: created.prices },
        requestId: ctx.requestId,
      });
      return created;
    });
  }

  /** versions: every version, oldest first (prices are public to every caller). */
  versions(): Promise<PriceVersion[]> {
    return priceVersionsOf(this.store.db);
  }

  /** timeline: all versions, ready to price run time (model/cost.ts). */
  async timeline(): Promise<PriceTimeline> {
    return new PriceTimeline(await this.versions());
  }

  /** estimate: what the job costs if it runs its whole time limit at the prices in effect now. */
  async estimate(spec: Parameters<typeof estimateCost>[2]): Promise<CostEstimate> {
    return estimateCost(await this.timeline(), this.fleet, spec, this.now());
  }

  /** at: the version in effect at `at` (default now); 404 no_prices before the first one. */
  async at(at?: string): Promise<PriceVersion> {
    const t = at === undefined ? this.now() : parseInstant('at', at);
    const inEffect = (await this.versions())
      .filter((v) => Date.parse(v.effectiveFrom) <= t)
      .sort((a, b) => Date.parse(a.effectiveFrom) - Date.parse(b.effectiveFrom) || a.version - b.version)
      .pop();
    if (!inEffect) {
      // Without `at` the answer names no instant: the same question gets the same answer.
      const when = at === undefined ? 'yet' : `at ${new Date(t).toISOString()}`;
      throw new DomainError(
        'not_found',
        'no_prices',
        `no price version is in effect ${when}; an operator sets one with POST /v1/price-versions`,
      );
    }
    return inEffect;
  }
}
