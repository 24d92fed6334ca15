/**
 * Sealed fields (tenant-keys.ts) without a server: a value opens only for its organisation and
 * column, the key is cached (one unwrap per organisation), values from before sealing pass
 * through, and after erase() a sealed value reads as erased while a live org's unknown key is an
 * error, never "erased".
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KeyService } from '../../src/sovereignty/keys/key-service.js';
import { LocalFileKeyProvider } from '../../src/sovereignty/keys/local-provider.js';
import type { KeyProvider } from '../../src/sovereignty/keys/provider.js';
import { TenantFieldKeys } from '../../src/sovereignty/keys/tenant-keys.js';
import { openSqliteStore } from '../../src/store/open-store.js';
import { ERASED, openJobRow, sealJobColumns } from '../../src/store/sealed-fields.js';

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-sealed-'));
  const store = await openSqliteStore(dir);
  const local = new LocalFileKeyProvider(join(dir, 'keys'));
  let unwraps = 0;
  const counting: KeyProvider = {
    name: 'local',
    kind: local.kind,
    createKey: (l) => local.createKey(l),
    wrap: (k, p, a) => local.wrap(k, p, a),
    unwrap: (k, w, a) => {
      unwraps++;
      return local.unwrap(k, w, a);
    },
    destroy: (k) => local.destroy(k),
    hasKey: (k) => local.hasKey(k),
  };
  const keys = new KeyService(store, new Map([['local', counting]]));
  const fields = new TenantFieldKeys(store, keys);
  return { store, keys, fields, unwraps: () => unwraps };
}

test('a sealed value opens only for its organisation and column; the key is unwrapped once per organisation', async () => {
  const { store, fields, unwraps } = await setup();
  try {
    await fields.ready('a');
    await fields.ready('b');
    const before = unwraps();
    const v = fields.seal('a', 'job.name', 'secret plan');
    assert.match(v, /^gf1:dk_[0-9a-f]+:/);
    assert.ok(!v.includes('secret plan'));
    assert.notEqual(fields.seal('a', 'job.name', 'secret plan'), v, 'a fresh nonce each time');
    for (let i = 0; i < 100; i++) assert.equal(fields.open('a', 'job.name', v), 'secret plan');
    await fields.ready('a');
    assert.equal(unwraps(), before, 'no key-provider call per value');
    // Moved to another column or another organisation's row, it does not open.
    assert.equal(fields.open('a', 'job.labels', v), null);
    const other = fields.seal('b', 'job.name', 'x');
    assert.equal(fields.open('a', 'job.name', other), null);
    assert.equal(fields.open('b', 'job.name', other), 'x');
    // Written before sealing existed: read as it is.
    assert.equal(fields.open('a', 'job.name', 'plain old name'), 'plain old name');
  } finally {
    await store.close();
  }
});

test('job columns keep the scheduling shape in clear and read back byte for byte; erase makes them read as erased', async () => {
  const { store, keys, fields } = await setup();
  try {
    await fields.ready('acme');
    const spec = {
      name: 'train-7',
      project: 'p',
      gpuType: 'L4',
      gpusPerNode: 2,
      nodes: 1,
      command: ['python', 'train.py'],
      env: { TOKEN_HINT: 'abc' },
      maxRuntimeSeconds: 3600,
      priorityClass: 'normal' as const,
      labels: { team: 'nlp' },
    };
    const cols = sealJobColumns(fields, 'acme', spec);
    assert.ok(!JSON.stringify(cols).includes('train.py') && !JSON.stringify(cols).includes('nlp'));
    const clear = JSON.parse(cols.spec) as Record<string, unknown>;
    assert.deepEqual([clear.gpuType, clear.gpusPerNode, clear.nodes, clear.priorityClass], ['L4', 2, 1, 'normal']);
    const row = openJobRow(fields, { org_id: 'acme', ...cols });
    assert.equal(row.spec, JSON.stringify(spec));
    assert.equal(row.name, 'train-7');
    assert.deepEqual(JSON.parse(row.labels), { team: 'nlp' });

    // A live organisation whose key is not loaded is an error, not "erased".
    const fresh = new TenantFieldKeys(store, keys);
    assert.throws(() => fresh.open('acme', 'job.name', cols.name), /not loaded/);

    fields.erase('acme');
    const gone = openJobRow(fields, { org_id: 'acme', ...cols });
    assert.equal(gone.name, ERASED);
    const { sealed: _sealed, ...shape } = clear;
    assert.deepEqual(JSON.parse(gone.spec), { name: ERASED, ...shape, labels: {} });
    assert.throws(() => fields.seal('acme', 'job.name', 'x'), /not loaded/);
  } finally {
    await store.close();
  }
});
