/**
 * WriteBatcher: group commit. Concurrent writers enqueue transaction bodies; one database
 * transaction runs a whole batch, each body inside its own savepoint, and every caller is
 * answered only after the COMMIT (durable: WAL + synchronous=FULL). One fsync serves many
 * requests, which is what makes thousands of acknowledged submissions per second possible.
 * A body that throws rolls back to its savepoint and rejects only its own caller.
 */
import { type Kysely, sql, type Transaction } from 'kysely';

export type TxBody<DB, T> = (trx: Transaction<DB>) => Promise<T>;

interface Pending<DB> {
  body: TxBody<DB, unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class WriteBatcher<DB> {
  private queue: Pending<DB>[] = [];
  private flushing = false;
  private closed = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly maxBatch = 512,
  ) {}

  /** run queues `body` for the next batch and resolves with its result after commit. */
  run<T>(body: TxBody<DB, T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ body, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** drain waits until everything queued so far is committed. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) await new Promise((r) => setTimeout(r, 2));
  }

  close(): void {
    this.closed = true;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const results: { ok: boolean; value: unknown }[] = [];
      try {
        await this.db.transaction().execute(async (trx) => {
          for (const item of batch) {
            if (batch.length === 1) {
              try {
                results.push({ ok: true, value: await item.body(trx) });
              } catch (err) {
                results.push({ ok: false, value: err });
                throw err;
              }
              continue;
            }
            await sql`SAVEPOINT gf_item`.execute(trx);
            try {
              results.push({ ok: true, value: await item.body(trx) });
              await sql`RELEASE SAVEPOINT gf_item`.execute(trx);
            } catch (err) {
              await sql`ROLLBACK TO SAVEPOINT gf_item`.execute(trx);
              await sql`RELEASE SAVEPOINT gf_item`.execute(trx);
              results.push({ ok: false, value: err });
            }
          }
        });
      } catch (err) {
        // Single-item batch that failed, or the COMMIT itself failed: nobody's work is durable.
        batch.forEach((item, i) => {
          const r = results[i];
          item.reject(r && !r.ok ? r.value : err);
        });
        continue;
      }
      batch.forEach((item, i) => {
        const r = results[i]!;
        if (r.ok) item.resolve(r.value);
        else item.reject(r.value);
      });
    }
    this.flushing = false;
  }
}
