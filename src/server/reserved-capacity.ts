/**
 * Reserved capacity (issue 15): operators commit an organisation to a number of GPUs of a type for a
 * calendar month at a price per GPU per month, audited (`reserved-capacity.set`) in the transaction
 * that writes it; a commitment for a month already invoiced is refused (the invoice cannot change).
 * Tenants read their own organisation's commitments, operators all. The invoice run bills them
 * (invoices/invoice-drafts.ts).
 */
import { canSeeOrg, enforce, isOperator, operatorOnly } from '../model/authz.js';
import { invalid, notFound } from '../model/errors.js';
import type { Fleet } from '../model/fleet.js';
import { isMonth } from '../model/invoices.js';
import type { Principal, RequestContext } from '../model/principal.js';
import type { ReservedCapacity, ReservedCapacityInput } from '../model/reserved-capacity.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import type { ReservedCapacityTable } from '../store/schema-prices.js';

const toApi = (r: ReservedCapacityTable): ReservedCapacity => ({
  org: r.org_id,
  gpuType: r.gpu_type,
  month: r.month,
  gpus: r.gpus,
  centsPerGpuMonth: Number(r.cents_per_gpu_month),
  updatedAt: r.updated_at,
  updatedBy: r.updated_by,
});

function checkMonth(month: string): void {
  if (!isMonth(month)) {
    throw invalid('invalid_month', `month is a calendar month as YYYY-MM, not ${month}`, [
      { path: 'month', message: 'e.g. 2027-01' },
    ]);
  }
}

export class ReservedCapacityBook {
  constructor(
    private readonly store: Store,
    private readonly fleet: Pick<Fleet, 'gpuTypes'>,
    private readonly now: () => number,
  ) {}

  /** set (operators): the organisation's commitment for the type and month; replaces an earlier one. */
  async set(ctx: RequestContext, input: ReservedCapacityInput): Promise<ReservedCapacity> {
    enforce(operatorOnly(ctx.principal), 'only platform operators set reserved capacity');
    checkMonth(input.month);
    if (!this.fleet.gpuTypes.includes(input.gpuType)) {
      throw invalid('unknown_gpu_type', `GPU type ${input.gpuType} is not in the fleet (${this.fleet.gpuTypes.join(', ')})`, [
        { path: 'gpuType', message: `one of ${this.fleet.gpuTypes.join(', ')}` },
      ]);
    }
    if (input.gpus <= 0) {
      throw invalid('invalid_gpu_count', `a commitment reserves at least 1 GPU, not ${input.gpus}`, [
        { path: 'gpus', message: 'at least 1' },
      ]);
    }
    const at = new Date(this.now()).toISOString();
    return this.store.write(async (trx) => {
      const org = await trx.selectFrom('orgs').select('id').where('id', '=', input.org).executeTakeFirst();
      if (!org) {
        throw invalid('unknown_org', `organisation ${input.org} does not exist`, [
          { path: 'org', message: 'an organisation id' },
        ]);
      }
      // In the same transaction as the write: an invoice run cannot slip in between the check and it.
      const invoice = await trx
        .selectFrom('invoices')
        .select('number')
        .where('org_id', '=', input.org)
        .where('month', '=', input.month)
        .executeTakeFirst();
      if (invoice) {
        throw invalid(
          'month_invoiced',
          `${input.org}'s invoice for ${input.month} was issued already (${invoice.number}); issued invoices never change — correct it with a credit note`,
          [{ path: 'month', message: 'a month not yet invoiced' }],
        );
      }
      const before = await trx
        .selectFrom('reserved_capacity')
        .selectAll()
        .where('org_id', '=', input.org)
        .where('month', '=', input.month)
        .where('gpu_type', '=', input.gpuType)
        .executeTakeFirst();
      const row: ReservedCapacityTable = {
        org_id: input.org,
        gpu_type: input.gpuType,
        month: input.month,
        gpus: input.gpus,
        cents_per_gpu_month: input.centsPerGpuMonth,
        updated_at: at,
        updated_by: ctx.principal.userId,
      };
      await trx
        .insertInto('reserved_capacity')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['org_id', 'month', 'gpu_type']).doUpdateSet({
            gpus: row.gpus,
            cents_per_gpu_month: row.cents_per_gpu_month,
            updated_at: at,
            updated_by: row.updated_by,
          }),
        )
        .execute();
      await appendAudit(trx, {
        at,
        actor: ctx.principal.userId,
        org: input.org,
        action: 'reserved-capacity.set',
        objectType: 'reserved_capacity',
        objectId: `${input.org}/${input.month}/${input.gpuType}`,
        before: before ? { gpus: before.gpus, centsPerGpuMonth: Number(before.cents_per_gpu_month) } : undefined,
        after: { gpus: row.gpus, centsPerGpuMonth: row.cents_per_gpu_month },
        requestId: ctx.requestId,
      });
      return toApi(row);
    });
  }

  /** list: the caller's organisation's commitments (operators: all, or `org`), optionally of one month. */
  async list(p: Principal, q: { org?: string; month?: string }): Promise<ReservedCapacity[]> {
    if (q.org !== undefined && !canSeeOrg(p, q.org).allowed) throw notFound('org', q.org);
    if (q.month !== undefined) checkMonth(q.month);
    const org = isOperator(p) ? q.org : (p.org ?? '');
    let sel = this.store.db.selectFrom('reserved_capacity').selectAll();
    if (org !== undefined) sel = sel.where('org_id', '=', org);
    if (q.month !== undefined) sel = sel.where('month', '=', q.month);
    const rows = await sel.orderBy('org_id').orderBy('month').orderBy('gpu_type').limit(10_000).execute();
    return rows.map(toApi);
  }
}

/** commitmentsOf: the organisation's commitments for the month, by GPU type (the invoice run's read). */
export async function commitmentsOf(
  db: Store['db'],
  org: string,
  month: string,
): Promise<Map<string, { gpus: number; centsPerGpuMonth: number }>> {
  const rows = await db
    .selectFrom('reserved_capacity')
    .select(['gpu_type', 'gpus', 'cents_per_gpu_month'])
    .where('org_id', '=', org)
    .where('month', '=', month)
    .orderBy('gpu_type')
    .execute();
  return new Map(rows.map((r) => [r.gpu_type, { gpus: r.gpus, centsPerGpuMonth: Number(r.cents_per_gpu_month) }]));
}
