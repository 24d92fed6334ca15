/**
 * Budget alerts: each budget may name thresholds (percents of its cap) and a webhook URL. A loop
 * (leader only, every budgetAlerts.checkIntervalSeconds) computes every such budget's committed
 * spend (spent this month + queued and running jobs to their limits); each threshold it reaches is
 * recorded once per month as a row of budget_alerts (a unique index: whichever check or replica
 * notices it first), with its `budget.alert` audit record in the same transaction. The row also
 * holds the webhook delivery: the event body is POSTed with `gigafab-signature: t=<unix>,v1=<hex>`,
 * HMAC-SHA256 under the organisation's secret over `<t>.<body>`; a failure is retried with
 * exponential backoff (retryBaseSeconds, doubling, at most an hour apart) up to maxAttempts, and as
 * the state lives in the store a restart resumes pending deliveries. Targets are checked against
 * SSRF on every connection (webhook-target.ts).
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { canAdminAsTenant, canSeeOrg, enforce } from '../model/authz.js';
import { notFound } from '../model/errors.js';
import type { Policy } from '../model/policy.js';
import type { BudgetAlert, BudgetAlertList, WebhookSecret } from '../model/prices.js';
import type { Principal, RequestContext } from '../model/principal.js';
import { appendAudit } from '../store/audit.js';
import type { Store } from '../store/open-store.js';
import { type BudgetCap, type BudgetFigures, budgetKey, monthOf } from './budget-figures.js';
import { addressRefusal, guardedLookup } from './webhook-target.js';

const SECRET_PURPOSE = 'budget_webhook_secret';
const ACTOR = 'system:budgets';

/** sign: the gigafab-signature header value for `body` at unix time `t`. */
export function signature(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export class BudgetAlerts {
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly figures: BudgetFigures,
    private readonly config: Policy['budgetAlerts'],
    private readonly now: () => number,
  ) {}

  /** createSecret: a new signing secret for the organisation (its admins; shown once, sealed in the store), replacing any. */
  async createSecret(ctx: RequestContext, org: string): Promise<WebhookSecret> {
    enforce(canSeeOrg(ctx.principal, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const exists = await this.store.db.selectFrom('orgs').select('id').where('id', '=', org).executeTakeFirst();
    if (!exists) throw notFound('org', org);
    // The secret signs the tenant's own events: operators never hold it.
    enforce(canAdminAsTenant(ctx.principal, org), "only the organisation's own admins create its webhook secret");
    const secret = `whsec_${randomBytes(32).toString('hex')}`;
    await this.store.fields.ready(org);
    const sealed = this.store.fields.seal(org, SECRET_PURPOSE, secret);
    const at = new Date(this.now()).toISOString();
    await this.store.write(async (trx) => {
      const before = await trx
        .selectFrom('budget_webhook_secrets')
        .select('created_at')
        .where('org_id', '=', org)
        .executeTakeFirst();
      await trx
        .insertInto('budget_webhook_secrets')
        .values({ org_id: org, secret: sealed, created_at: at })
        .onConflict((oc) => oc.column('org_id').doUpdateSet({ secret: sealed, created_at: at }))
        .execute();
      await appendAudit(trx, {
        at,
        actor: ctx.principal.userId,
        org,
        action: before ? 'budget.webhook_secret.rotate' : 'budget.webhook_secret.create',
        objectType: 'budget',
        objectId: org,
        requestId: ctx.requestId,
      });
    });
    return { org, secret };
  }

  /** list: the organisation's alerts, newest first, with their deliveries. */
  async list(p: Principal, org: string): Promise<BudgetAlertList> {
    enforce(canSeeOrg(p, org), `organisation ${org} is not yours`, { kind: 'org', id: org });
    const rows = await this.store.db
      .selectFrom('budget_alerts')
      .selectAll()
      .where('org_id', '=', org)
      .orderBy('id', 'desc')
      .limit(1000)
      .execute();
    return {
      items: rows.map((r): BudgetAlert => {
        const body = JSON.parse(r.body) as { capCents: number; spentCents: number; committedCents: number };
        return {
          id: Number(r.id),
          org: r.org_id,
          ...(r.project_id ? { project: r.project_id } : {}),
          month: r.month,
          thresholdPct: r.threshold,
          at: r.at,
          capCents: body.capCents,
          spentCents: body.spentCents,
          committedCents: body.committedCents,
          delivery: {
            state: r.state as BudgetAlert['delivery']['state'],
            url: r.webhook_url,
            attempts: Number(r.attempts),
            nextAt: r.next_at,
            lastError: r.last_error,
            deliveredAt: r.delivered_at,
          },
        };
      }),
    };
  }

  start(): void {
    if (this.timer) return;
    const tick = async () => {
      await this.tick();
      if (this.timer) this.timer = setTimeout(tick, this.config.checkIntervalSeconds * 1000);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.busy;
  }

  /** tick: one check of every budget with thresholds, then every due delivery. */
  tick(): Promise<void> {
    if (!this.busy) {
      this.busy = (async () => {
        try {
          await this.check();
          await this.deliver();
        } catch (err) {
          console.error('budget alerts:', err);
        } finally {
          this.busy = null;
        }
      })();
    }
    return this.busy;
  }

  /** check: records each threshold a budget's committed spend reached this month, once. */
  async check(): Promise<void> {
    const caps = [...(await this.figures.caps()).values()].filter((c) => c.alertThresholds.length > 0 && c.capCents > 0);
    if (caps.length === 0) return;
    const prices = await this.figures.prices();
    const { month } = monthOf(this.now());
    for (const cap of caps) {
      const key = budgetKey(cap.scope, cap.id);
      const f = await this.figures.of(cap, prices);
      const total = f.spent + f.committed;
      const reached = cap.alertThresholds.filter((t) => total * 100 >= t * cap.capCents);
      if (reached.length === 0) continue;
      const known = await this.store.db
        .selectFrom('budget_alerts')
        .select('threshold')
        .where('budget_key', '=', key)
        .where('month', '=', month)
        .execute();
      const seen = new Set(known.map((k) => k.threshold));
      for (const t of reached) if (!seen.has(t)) await this.record(cap, key, month, t, f.spent, f.committed);
    }
  }

  private async record(cap: BudgetCap, key: string, month: string, t: number, spent: number, committed: number): Promise<void> {
    const at = new Date(this.now()).toISOString();
    const event = {
      type: 'budget.threshold_crossed',
      id: `${key}/${month}/${t}`,
      org: cap.org,
      ...(cap.scope === 'project' ? { project: cap.id } : {}),
      month,
      thresholdPct: t,
      capCents: cap.capCents,
      spentCents: spent,
      committedCents: committed,
      at,
    };
    await this.store.write(async (trx) => {
      const inserted = await trx
        .insertInto('budget_alerts')
        .values({
          org_id: cap.org,
          project_id: cap.scope === 'project' ? cap.id : null,
          budget_key: key,
          month,
          threshold: t,
          at,
          body: JSON.stringify(event),
          webhook_url: cap.webhookUrl,
          state: cap.webhookUrl ? 'pending' : 'none',
          next_at: cap.webhookUrl ? at : null,
          last_error: null,
          delivered_at: null,
        })
        .onConflict((oc) => oc.columns(['budget_key', 'month', 'threshold']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return;
      await appendAudit(trx, {
        at,
        actor: ACTOR,
        org: cap.org,
        action: 'budget.alert',
        objectType: 'budget',
        objectId: cap.scope === 'org' ? cap.org : `${cap.org}/${cap.id}`,
        after: { month, thresholdPct: t, spentCents: spent, committedCents: committed, capCents: cap.capCents },
      });
    });
  }

  /** deliver: POSTs every pending delivery that is due; failures are retried later with backoff. */
  async deliver(): Promise<void> {
    const nowIso = new Date(this.now()).toISOString();
    const due = await this.store.db
      .selectFrom('budget_alerts')
      .selectAll()
      .where('state', '=', 'pending')
      .where('next_at', '<=', nowIso)
      .orderBy('id')
      .limit(100)
      .execute();
    for (const a of due) {
      const error = await this.post(a.org_id, a.webhook_url ?? '', a.body);
      const attempts = Number(a.attempts) + 1;
      const at = new Date(this.now()).toISOString();
      if (error === null || attempts >= this.config.maxAttempts) {
        const state = error === null ? 'delivered' : 'failed';
        await this.store.write(async (trx) => {
          await trx
            .updateTable('budget_alerts')
            .set({ state, attempts, next_at: null, last_error: error, delivered_at: error === null ? at : null })
            .where('id', '=', a.id)
            .execute();
          await appendAudit(trx, {
            at,
            actor: ACTOR,
            org: a.org_id,
            action: `budget.alert.${state}`,
            objectType: 'budget_alert',
            objectId: String(a.id),
            after: { attempts, lastError: error },
          });
        });
        continue;
      }
      const delayMs = Math.min(3_600_000, this.config.retryBaseSeconds * 1000 * 2 ** (attempts - 1));
      await this.store.db
        .updateTable('budget_alerts')
        .set({ attempts, last_error: error, next_at: new Date(this.now() + delayMs).toISOString() })
        .where('id', '=', a.id)
        .execute();
    }
  }

  /** post: null on a 2xx answer, else why it failed. */
  private async post(org: string, url: string, body: string): Promise<string | null> {
    const row = await this.store.db
      .selectFrom('budget_webhook_secrets')
      .select('secret')
      .where('org_id', '=', org)
      .executeTakeFirst();
    if (!row) return 'the organisation has no webhook secret';
    await this.store.fields.ready(org);
    const secret = this.store.fields.open(org, SECRET_PURPOSE, row.secret);
    if (secret === null) return "the organisation's webhook secret was erased";
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return `not a URL: ${url}`;
    }
    const t = Math.floor(Date.now() / 1000);
    const lib = target.protocol === 'https:' ? https : http;
    if (target.protocol === 'http:' && !this.config.allowLoopback) return 'plain http is not allowed';
    // A literal address never goes through the socket's lookup: check it here.
    const host = target.hostname.replace(/^\[|\]$/g, '');
    const literal = isIP(host) ? addressRefusal(host, this.config.allowLoopback) : null;
    if (literal) return `refused: ${literal}`;
    return new Promise((resolve) => {
      const req = lib.request(
        target,
        {
          method: 'POST',
          lookup: guardedLookup(this.config.allowLoopback),
          timeout: 10_000,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'gigafab-webhooks/1',
            'gigafab-signature': signature(secret, t, body),
          },
        },
        (res) => {
          res.resume();
          const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
          resolve(ok ? null : `HTTP ${res.statusCode}`);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
      req.on('error', (e) => resolve(e.message));
      req.end(body);
    });
  }
}
