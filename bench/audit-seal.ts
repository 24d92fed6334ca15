/**
 * The cost of sealing every committed write transaction with a signed, chained audit checkpoint
 * (src/server/audit/log.ts): the same audited writes into a durable SQLite store, without and with
 * the AuditLog's pre-commit seal, serial (one write per transaction, the worst case) and 64 at a time
 * (group commit: one seal serves the batch). Also the bare Ed25519 signature.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/server/audit/index.js';
import { appendAudit } from '../src/store/audit.js';
import { openSqliteStore, type Store } from '../src/store/open-store.js';

export interface AuditSealResult {
  ed25519SignMicros: number;
  /** per transaction, serial writes: without / with the seal */
  serialMicros: { plain: number; sealed: number };
  /** per write, 64 concurrent writes per batch: without / with the seal */
  batchedMicros: { plain: number; sealed: number };
  checkpointsPerTransaction: number;
}

async function audited(store: Store, i: number): Promise<void> {
  await store.write((trx) =>
    appendAudit(trx, {
      actor: 'u_bench',
      org: `org${i % 8}`,
      action: 'job.submit',
      objectType: 'job',
      objectId: String(i),
      after: { name: 'bench', gpus: 1 },
      at: new Date().toISOString(),
    }),
  );
}

async function timeWrites(sealed: boolean, writes: number, concurrency: number): Promise<{ micros: number; store: Store }> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-bench-seal-'));
  const store = await openSqliteStore(dir);
  if (sealed) new AuditLog(store, dir);
  for (let i = 0; i < 50; i++) await audited(store, i); // warm statement cache and page cache
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < writes; i += concurrency)
    await Promise.all(Array.from({ length: concurrency }, (_, k) => audited(store, i + k)));
  return { micros: Number(process.hrtime.bigint() - t0) / 1000 / writes, store };
}

export async function benchAuditSeal(serialWrites = 1000, batchedWrites = 6400): Promise<AuditSealResult> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const msg = Buffer.from(JSON.stringify(['gigafab-audit-checkpoint-v2', 1, 'a'.repeat(64), 1, 1, 'b'.repeat(64), [], 'x']));
  for (let i = 0; i < 200; i++) sign(null, msg, privateKey);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 2000; i++) sign(null, msg, privateKey);
  const ed25519SignMicros = Number(process.hrtime.bigint() - t0) / 1000 / 2000;

  const round = (n: number) => Math.round(n * 10) / 10;
  const results: Record<string, number> = {};
  let checkpointsPerTransaction = 0;
  // Interleaved, so a busy machine slows both sides alike.
  for (const [key, sealed, writes, conc] of [
    ['serialPlain', false, serialWrites, 1],
    ['serialSealed', true, serialWrites, 1],
    ['batchedPlain', false, batchedWrites, 64],
    ['batchedSealed', true, batchedWrites, 64],
  ] as const) {
    const { micros, store } = await timeWrites(sealed, writes, conc);
    results[key] = round(micros);
    if (key === 'serialSealed') {
      const n = await store.db
        .selectFrom('audit_checkpoints')
        .select((e) => e.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      checkpointsPerTransaction = round(Number(n.n) / (serialWrites + 50));
    }
    await store.close();
  }
  return {
    ed25519SignMicros: round(ed25519SignMicros),
    serialMicros: { plain: results.serialPlain!, sealed: results.serialSealed! },
    batchedMicros: { plain: results.batchedPlain!, sealed: results.batchedSealed! },
    checkpointsPerTransaction,
  };
}
