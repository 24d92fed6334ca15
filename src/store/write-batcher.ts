/**
 * WriteBatcher: group commit. Concurrent writers enqueue transaction bodies; one database
 * transaction runs a whole batch, and every caller is answered only after the COMMIT
 * (durable: WAL + synchronous=FULL). One fsync serves many requests, which is what makes
 * thousands of acknowledged submissions per second possible. A body that throws rejects only
 * its own caller: the batch is retried body by body.
 *
 * On PostgreSQL (see `WriteTxOptions`) every transaction first takes a transaction-scoped advisory
 * lock, so write transactions — from this process or another replica — commit one after the other
 * as on SQLite: the audit chain's head is read and extended under that lock. Serialisation failures
 * and deadlocks (40001/40P01) rerun the whole transaction a bounded number of times; a lost
 * connection rejects the batch with `store_unavailable` (the database rolled it back).
 */
import type { Kysely, Transaction } from 'kysely';
import { asStoreError, isSerializationFailure, isUnavailable } from './store-unavailable.js';

export type TxBody<DB, T> = (trx: Transaction<DB>) => Promise<T>;

export interface WriteTxOptions<DB> {
  /** Runs first in every write transaction (PostgreSQL: the advisory lock that orders writers). */
  begin?: TxBody<DB, void>;
  /** How often a transaction aborted by a serialisation failure or deadlock is rerun (default 5). */
  maxRetries?: number;
}

interface Pending<DB> {
  body: TxBody<DB, unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class WriteBatcher<DB> {
  private queue: Pending<DB>[] = [];
  /** Run inside every transaction after its bodies, before COMMIT (e.g. sealing the audit log). */
  private readonly preCommit: TxBody<DB, void>[] = [];
  private flushing = false;
  private closed = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly maxBatch = 512,
    private readonly tx: WriteTxOptions<DB> = {},
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

  /** addPreCommit runs `hook` at the end of every transaction, so what it writes commits with the batch. */
  addPreCommit(hook: TxBody<DB, void>): void {
    this.preCommit.push(hook);
  }

  private async inTransaction<T>(body: TxBody<DB, T>): Promise<T> {
    const maxRetries = this.tx.maxRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          if (this.tx.begin) await this.tx.begin(trx);
          const value = await body(trx);
          for (const hook of this.preCommit) await hook(trx);
          return value;
        });
      } catch (err) {
        if (!isSerializationFailure(err) || attempt >= maxRetries) throw asStoreError(err);
        // Jittered backoff so two aborted writers do not collide again at once.
        await new Promise((r) => setTimeout(r, 2 ** attempt * (1 + Math.random())));
      }
    }
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
      // Optimistic: the whole batch in one transaction. Bodies rarely fail (a lost idempotency race,
      // a constraint); when one does, the batch is rolled back and each body reruns on its own.
      const values: unknown[] = [];
      try {
        await this.inTransaction(async (trx) => {
          for (const item of batch) values.push(await item.body(trx));
        });
      } catch (err) {
        // One body at a time would meet the same dead database: every caller hears "unavailable".
        if (batch.length === 1 || isUnavailable(err)) {
          for (const item of batch) item.reject(err);
          continue;
        }
        for (const item of batch) {
          try {
            item.resolve(await this.inTransaction(item.body));
          } catch (e) {
            item.reject(e);
          }
        }
        continue;
      }
      for (const [i, item] of batch.entries()) item.resolve(values[i]);
    }
    this.flushing = false;
  }
}
