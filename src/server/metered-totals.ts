/**
 * GPU-seconds run per (org, project) since metering began, for the /metrics counter
 * (project-metrics.ts), without summing the whole daily rollup at every scrape. Metering adds a
 * segment to the rollup when it closes, on the days it ran (metering.ts), so a day before both
 * today and the first day of every segment still open can no longer change: those days are summed
 * once and kept ("settled"); each scrape reads only the rollup's later days and the open segments
 * (their partial index). A full re-read every `refreshMs` (default an hour) picks up records
 * written around metering (an import, a rebuilt rollup).
 */
import { sql } from 'kysely';
import { DAY_MS } from '../model/usage-daily.js';
import type { Store } from '../store/open-store.js';

export interface ProjectSeconds {
  org: string;
  project: string;
  seconds: number;
}

const dayName = (t: number) => new Date(Math.floor(t / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
const key = (org: string, project: string) => `${org}\u0000${project}`;

export class MeteredTotals {
  /** Rollup run time (milli-GPU × ms) of the days before `settledBefore`, per org and project. */
  private settled = new Map<string, { org: string; project: string; mms: bigint }>();
  private settledBefore: string | null = null;
  private settledAt = 0;

  constructor(
    private readonly store: Store,
    private readonly refreshMs = 3_600_000,
  ) {}

  private async rollup(
    fromDay: string | null,
    beforeDay: string | null,
  ): Promise<{ org_id: string; project_id: string; mms: string }[]> {
    if (fromDay === null) {
      let q = this.store.db
        .selectFrom('usage_daily')
        .select(['org_id', 'project_id', sql<string>`cast(sum(run_mms) as text)`.as('mms')]);
      if (beforeDay !== null) q = q.where('day', '<', beforeDay);
      return q.groupBy(['org_id', 'project_id']).execute();
    }
    // A few recent days: their rows by the primary key's day range, added up here (a GROUP BY
    // would let SQLite walk a whole (org, day) index for its order instead).
    let q = this.store.db
      .selectFrom('usage_daily')
      .select(['org_id', 'project_id', sql<string>`cast(run_mms as text)`.as('mms')])
      .where('day', '>=', fromDay);
    if (beforeDay !== null) q = q.where('day', '<', beforeDay);
    return q.execute();
  }

  /** read: every (org, project)'s GPU-seconds, closed segments from the rollup, open ones up to `now`. */
  async read(now: number): Promise<ProjectSeconds[]> {
    const open = await this.store.db
      .selectFrom('usage_records')
      .select(['org_id', 'project_id', 'gpus', 'started_at'])
      .where('ended_at', 'is', null)
      .execute();
    let cut = dayName(now);
    for (const r of open) if (r.started_at.slice(0, 10) < cut) cut = r.started_at.slice(0, 10);
    // Settle up to `cut`: from scratch when due or when the cut moved back, else add the newly settled days.
    if (this.settledBefore === null || cut < this.settledBefore || now - this.settledAt >= this.refreshMs) {
      this.settled = new Map();
      this.add(await this.rollup(null, cut));
      this.settledAt = now;
    } else if (cut > this.settledBefore) this.add(await this.rollup(this.settledBefore, cut));
    this.settledBefore = cut;
    const out = new Map<string, { org: string; project: string; mms: bigint; openSeconds: number }>();
    const at = (org: string, project: string) => {
      const k = key(org, project);
      let e = out.get(k);
      if (!e) {
        e = { org, project, mms: 0n, openSeconds: 0 };
        out.set(k, e);
      }
      return e;
    };
    for (const s of this.settled.values()) at(s.org, s.project).mms += s.mms;
    for (const r of await this.rollup(cut, null)) at(r.org_id, r.project_id).mms += BigInt(r.mms);
    for (const r of open)
      at(r.org_id, r.project_id).openSeconds += (Number(r.gpus) * Math.max(0, now - Date.parse(r.started_at))) / 1000;
    // milli-GPU × ms to GPU-seconds: exact in BigInt down to the microsecond, then a double.
    return [...out.values()].map((e) => ({
      org: e.org,
      project: e.project,
      seconds: Number(e.mms / 1000n) / 1000 + e.openSeconds,
    }));
  }

  private add(rows: { org_id: string; project_id: string; mms: string }[]): void {
    for (const r of rows) {
      const k = key(r.org_id, r.project_id);
      const e = this.settled.get(k);
      if (e) e.mms += BigInt(r.mms);
      else this.settled.set(k, { org: r.org_id, project: r.project_id, mms: BigInt(r.mms) });
    }
  }
}
