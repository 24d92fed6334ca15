/**
 * SchedulerLease: which of several server processes on one PostgreSQL database schedules. One row
 * (`scheduler_lease`, migration 023) names the holder, when its lease ends (by the database's clock)
 * and a fencing token that grows by one at every change of holder. The holder renews about once a
 * second; once the lease has run out, any process may take it, with the next token.
 *
 * Fencing: every decision commit (a start, a preemption, a job's end or requeue) first runs
 * `fence(trx)`, which reads the row with FOR SHARE and refuses unless this process still holds it
 * with its token. A takeover's UPDATE waits for those share locks, so a decision is committed either
 * entirely before a takeover (and the new leader's recovery reads it) or refused: a leader that was
 * paused (SIGSTOP, a long GC, a lost network) and comes back cannot commit anything.
 *
 * On SQLite there is one process per database file: the lease is held trivially and nothing is fenced.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Kysely, sql, type Transaction } from 'kysely';
import { DomainError } from '../model/errors.js';
import type { Store } from './open-store.js';
import type { Database } from './schema.js';

const NAME = 'scheduler';
/** Epoch ms by the database's clock (clock_timestamp: not frozen at the transaction's start). */
const DB_NOW_MS = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

export interface LeaseView {
  role: 'leader' | 'follower';
  /** The token this process holds (0 while it never held the lease). */
  token: number;
  holder: string;
}

export class SchedulerLease {
  /** The token of the lease this process holds, or last held; 0: never held. */
  private token = 0;
  private held = false;
  /** Grows at every lose(): a renewal already on its way when the lease was lost must not count as held. */
  private losses = 0;

  constructor(
    private readonly store: Store,
    readonly holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    readonly ttlMs = 3000,
    /** Where renewals run: a connection of their own (openLeaseDb), so a busy pool cannot delay them. */
    private readonly leaseDb: Kysely<Database> = store.db,
  ) {
    if (store.dialect === 'sqlite') {
      this.held = true;
      this.token = 1;
    }
  }

  view(): LeaseView {
    return { role: this.held ? 'leader' : 'follower', token: this.token, holder: this.holder };
  }

  get isHeld(): boolean {
    return this.held;
  }

  /**
   * tick takes the lease when it is free or has run out, or renews it when this process holds it;
   * returns whether this process holds it now. A renewal keeps the token; a takeover gets the next.
   */
  async tick(): Promise<boolean> {
    if (this.store.dialect === 'sqlite') return true;
    const ttl = this.ttlMs;
    const me = this.holder;
    const mine = this.token;
    const lossesBefore = this.losses;
    const r = await sql<{ token: number }>`
      INSERT INTO scheduler_lease (name, holder, token, expires_ms) VALUES (${NAME}, ${me}, 1, ${DB_NOW_MS} + ${ttl})
      ON CONFLICT (name) DO UPDATE SET
        token = CASE WHEN scheduler_lease.holder = ${me} AND scheduler_lease.token = ${mine}
                     THEN scheduler_lease.token ELSE scheduler_lease.token + 1 END,
        holder = ${me},
        expires_ms = ${DB_NOW_MS} + ${ttl}
      WHERE (scheduler_lease.holder = ${me} AND scheduler_lease.token = ${mine}) OR scheduler_lease.expires_ms < ${DB_NOW_MS}
      RETURNING token`.execute(this.leaseDb);
    const row = r.rows[0];
    if (row) {
      this.token = Number(row.token);
      // Lost while this renewal was in flight (a fence refused, a commit's outcome is unknown): the
      // caller must rebuild before it counts itself the holder again, so this answer says "not held";
      // the next tick renews with the same token and reports it held.
      this.held = this.losses === lossesBefore;
    } else {
      this.held = false;
    }
    return this.held;
  }

  /** lose: this process no longer counts itself the holder (its renewal failed, a fence refused). */
  lose(): void {
    if (this.store.dialect === 'sqlite') return;
    this.held = false;
    this.losses++;
  }

  /** fence refuses (`scheduler_lease_lost`) unless this process still holds the lease with its token. */
  async fence(trx: Transaction<Database>): Promise<void> {
    if (this.store.dialect === 'sqlite') return;
    const r = await sql<{ token: number }>`
      SELECT token FROM scheduler_lease WHERE name = ${NAME} AND holder = ${this.holder} AND token = ${this.token}
      FOR SHARE`.execute(trx);
    if (r.rows.length === 0) {
      this.lose();
      throw leaseLost(this.token);
    }
  }

  /** release gives the lease up at once (a clean shutdown), so a follower need not wait for it to run out. */
  async release(): Promise<void> {
    if (this.store.dialect === 'sqlite' || !this.held) return;
    this.held = false;
    await sql`UPDATE scheduler_lease SET expires_ms = 0 WHERE name = ${NAME} AND holder = ${this.holder} AND token = ${this.token}`.execute(
      this.store.db,
    );
  }

  /** current: the row as stored (who holds it, with which token), or null before anyone took it. */
  async current(): Promise<{ holder: string; token: number; expiresMs: number } | null> {
    const row = await this.store.db.selectFrom('scheduler_lease').selectAll().where('name', '=', NAME).executeTakeFirst();
    return row ? { holder: row.holder, token: Number(row.token), expiresMs: Number(row.expires_ms) } : null;
  }
}

export function leaseLost(token: number): DomainError {
  return new DomainError(
    'conflict',
    'scheduler_lease_lost',
    `this server no longer holds the scheduler lease (its fencing token ${token} is stale): the decision was not committed`,
  );
}

export function isLeaseLost(err: unknown): boolean {
  return err instanceof DomainError && err.code === 'scheduler_lease_lost';
}
