/**
 * A data directory from before chained checkpoints (only minute/shutdown checkpoints, "v1") keeps
 * verifying after the upgrade: the first chained checkpoint pins every organisation's head, later
 * batches chain on, and a v1 checkpoint slipped in after the chain started is refused.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditLog, checkpointText } from '../../src/server/audit/index.js';
import { appendAudit } from '../../src/store/audit.js';
import { openSqliteStore, type Store } from '../../src/store/open-store.js';

const record = (org: string, i: number) => ({
  actor: 'u_test',
  org,
  action: 'project.create',
  objectType: 'project',
  objectId: `${org}-${i}`,
  after: { i },
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
});

async function v1Checkpoint(store: Store, keyPem: string) {
  const rows = await store.db.selectFrom('audit').selectAll().orderBy('id').execute();
  const head = rows.at(-1)!;
  const orgHeads: Record<string, [number, string]> = {};
  for (const r of rows) if (r.org_id && r.org_hash) orgHeads[r.org_id] = [r.id, r.org_hash];
  const body = { version: 1 as const, seq: null, prevHash: null, fromId: null, uptoId: head.id, headHash: head.hash };
  const at = new Date().toISOString();
  const text = checkpointText({ ...body, orgHeads, orgCommitments: [], at });
  const signature = sign(null, Buffer.from(text), keyPem).toString('base64');
  await store.write((trx) =>
    trx
      .insertInto('audit_checkpoints')
      .values({ at, upto_id: head.id, head_hash: head.hash, org_heads: JSON.stringify(orgHeads), signature, key_id: 'old' })
      .execute(),
  );
}

test('an upgraded log: v1 checkpoints verify, the chain starts with every organisation pinned, and a late v1 checkpoint is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-upgrade-'));
  const { privateKey } = generateKeyPairSync('ed25519');
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(join(dir, 'audit-signing-key.pem'), keyPem, { mode: 0o600 });
  const store = await openSqliteStore(dir);
  try {
    // Before the upgrade: records and one v1 checkpoint, then records no checkpoint covers (a crash).
    for (let i = 1; i <= 3; i++) await store.write((trx) => appendAudit(trx, record(i % 2 ? 'alpha' : 'beta', i)));
    await v1Checkpoint(store, keyPem);
    await store.write((trx) => appendAudit(trx, record('alpha', 4)));

    const audit = new AuditLog(store, dir);
    const genesis = await audit.sealBacklog();
    assert.equal(genesis?.seq, 1);
    assert.equal(genesis?.fromId, 4, 'the first chained checkpoint covers what the v1 checkpoint did not');
    assert.deepEqual(Object.keys(genesis?.orgHeads ?? {}).sort(), ['alpha', 'beta'], 'every organisation pinned');
    await store.write((trx) => appendAudit(trx, record('beta', 5)));

    const all = await audit.verify(null);
    assert.equal(all.ok, true, JSON.stringify(all.problem));
    assert.equal(all.checked, 5);
    assert.equal(all.checkpoint?.seq, 2);
    const beta = await audit.verify('beta');
    assert.equal(beta.ok, true, JSON.stringify(beta.problem));
    assert.deepEqual(Object.keys(beta.checkpoint?.orgHeads ?? {}), ['beta']);

    // A v1 checkpoint after the chain began would let an attacker pin a shorter log: refused.
    await v1Checkpoint(store, keyPem);
    const late = await audit.verify(null);
    assert.equal(late.ok, false);
    assert.match(late.problem?.reason ?? '', /unchained checkpoint follows chained checkpoint 2/);
  } finally {
    await store.close();
  }
});
