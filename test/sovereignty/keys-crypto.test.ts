/**
 * The key hierarchy on a real SQLite store: envelope round trips, AAD binding and tamper
 * detection, rotation (ciphertexts unchanged, old KEK destroyed, decryption never interrupted),
 * object shredding, and a customer-managed key in an external KMS reached over HTTP (a real KMS
 * process started here).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { aad, DecryptError, newKey, open, seal } from '../../src/sovereignty/keys/envelope.js';
import { HttpKmsProvider } from '../../src/sovereignty/keys/http-kms-provider.js';
import { KeyService, type ObjectRef } from '../../src/sovereignty/keys/key-service.js';
import { LocalFileKeyProvider } from '../../src/sovereignty/keys/local-provider.js';
import { KeyNotFoundError, type KeyProvider, KeyProviderError } from '../../src/sovereignty/keys/provider.js';
import { parseKmsProviders } from '../../src/sovereignty/keys/setup.js';
import { keysDb } from '../../src/store/keys-tables.js';
import { openSqliteStore, type Store } from '../../src/store/open-store.js';
import { REPO } from '../helpers/server.js';

const ORG = 'acme';

async function freshStore(): Promise<{ store: Store; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-keys-'));
  const store = await openSqliteStore(dir);
  await store.write((trx) =>
    trx.insertInto('orgs').values({ id: ORG, name: 'Acme', kind: 'enterprise', created_at: '2026-01-01T00:00:00Z' }).execute(),
  );
  return { store, dir };
}

test('AES-256-GCM envelope: round trip; wrong AAD, wrong key or any flipped byte fails', () => {
  const key = newKey();
  const ctx = aad('data', 'acme', 'secret', 's1', 'dk1');
  const sealed = seal(key, Buffer.from('top secret'), ctx);
  assert.equal(open(key, sealed, ctx).toString(), 'top secret');
  // Fresh nonce each time: sealing twice never gives the same bytes.
  assert.notDeepEqual(seal(key, Buffer.from('top secret'), ctx), sealed);
  assert.throws(() => open(key, sealed, aad('data', 'other-org', 'secret', 's1', 'dk1')), DecryptError);
  assert.throws(() => open(newKey(), sealed, ctx), DecryptError);
  for (const i of [0, 5, 20, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[i]! ^= 0x01;
    assert.throws(() => open(key, bad, ctx), DecryptError, `flipping byte ${i} must be detected`);
  }
  assert.throws(() => open(key, sealed.subarray(0, sealed.length - 1), ctx), DecryptError);
});

test('local provider: root key file 0600, KEKs wrapped by it, destroy is final', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-lp-'));
  const p = new LocalFileKeyProvider(dir);
  const id = await p.createKey('t');
  assert.equal(statSync(join(dir, 'root.key')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'keks.json')).mode & 0o777, 0o600);
  const wrapped = await p.wrap(id, Buffer.from('dek'), Buffer.from('ctx'));
  // A second instance (a restarted server) reads the same keys.
  const again = new LocalFileKeyProvider(dir);
  assert.equal((await again.unwrap(id, wrapped, Buffer.from('ctx'))).toString(), 'dek');
  assert.ok(!readFileSync(join(dir, 'keks.json'), 'utf8').includes(Buffer.from('dek').toString('base64')));
  await again.destroy(id);
  assert.equal(await p.hasKey(id), false);
  await assert.rejects(new LocalFileKeyProvider(dir).unwrap(id, wrapped, Buffer.from('ctx')), KeyNotFoundError);
});

test('local provider on a directory replicas share: processes making keys at once keep every one, under one root key', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'gigafab-lp-shared-')), 'keys');
  const provider = new URL('../../src/sovereignty/keys/local-provider.js', import.meta.url).href;
  // Each process: its own provider on the shared directory, 25 KEKs, each wrapping its own id.
  const script = `
    const { LocalFileKeyProvider } = await import(${JSON.stringify(provider)});
    const p = new LocalFileKeyProvider(process.argv[1]);
    const out = [];
    for (let i = 0; i < 25; i++) {
      const id = await p.createKey('k' + i);
      out.push([id, (await p.wrap(id, Buffer.from(id), Buffer.from('ctx'))).toString('base64')]);
    }
    process.stdout.write(JSON.stringify(out));`;
  const run = () =>
    new Promise<[string, string][]>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`key maker exited ${code}`))));
    });
  const made = (await Promise.all([run(), run(), run(), run()])).flat();
  assert.equal(made.length, 100);
  // A fresh instance (another replica) finds and opens every key any of them made.
  const reader = new LocalFileKeyProvider(dir);
  for (const [id, wrapped] of made)
    assert.equal((await reader.unwrap(id, Buffer.from(wrapped, 'base64'), Buffer.from('ctx'))).toString(), id);
  assert.equal(Object.keys(JSON.parse(readFileSync(join(dir, 'keks.json'), 'utf8'))).length, 100);
});

test('KeyService: encrypt/decrypt per object, AAD binds the object, each use is audited, shredding is final', async () => {
  const { store, dir } = await freshStore();
  const keys = new KeyService(store, new Map([['local', new LocalFileKeyProvider(join(dir, 'keys'))]]));
  const manifest: ObjectRef = { org: ORG, objectType: 'dataset-manifest', objectId: 'ds-1' };
  const sealed = await keys.encrypt(manifest, Buffer.from('{"files":["a"]}'), 'u_1');
  const use = { actor: 'u_1', purpose: 'test' };
  assert.equal((await keys.decrypt(manifest, sealed, use)).toString(), '{"files":["a"]}');
  await assert.rejects(keys.decrypt({ ...manifest, objectId: 'ds-2' }, sealed, use));
  const audit = await store.db.selectFrom('audit').select(['action', 'after']).where('action', '=', 'key.use').execute();
  assert.equal(audit.length, 1);
  assert.ok(!String(audit[0]!.after).includes('files'), 'no plaintext in the audit record');
  await keys.shred(manifest, 'u_1', 'dataset deleted');
  await assert.rejects(keys.decrypt(manifest, sealed, use), (e: Error & { code?: string }) => e.code === 'key_destroyed');
  const row = await keysDb(store.db)
    .selectFrom('data_keys')
    .selectAll()
    .where('object_id', '=', 'ds-1')
    .executeTakeFirstOrThrow();
  assert.equal(row.wrapped, null);
  assert.equal(row.state, 'shredded');
  await store.close();
});

test('rotation re-wraps data keys, leaves ciphertexts alone, destroys the old KEK, and decryption never stops', async () => {
  const { store, dir } = await freshStore();
  const local = new LocalFileKeyProvider(join(dir, 'keys'));
  const keys = new KeyService(store, new Map([['local', local]]));
  const refs = Array.from({ length: 20 }, (_, i): ObjectRef => ({ org: ORG, objectType: 'secret', objectId: `s${i}` }));
  const sealed = await Promise.all(refs.map((r, i) => keys.encrypt(r, Buffer.from(`value-${i}`), 'u_1')));
  const [v1] = await keys.keks(ORG);
  let stop = false;
  let reads = 0;
  const reader = (async () => {
    while (!stop) {
      const i = reads % refs.length;
      assert.equal(
        (await keys.decrypt(refs[i]!, sealed[i]!, { actor: 'u_1', purpose: 'during rotation' })).toString(),
        `value-${i}`,
      );
      reads++;
    }
  })();
  const r1 = await keys.rotate(ORG, 'u_admin');
  const r2 = await keys.rotate(ORG, 'u_admin');
  stop = true;
  await reader;
  assert.ok(reads > 0);
  assert.equal(r1.rewrappedDataKeys, 20);
  assert.deepEqual(r2.destroyedVersions, [2]);
  const keks = await keys.keks(ORG);
  assert.deepEqual(
    keks.map((k) => [k.version, k.state]),
    [
      [1, 'destroyed'],
      [2, 'destroyed'],
      [3, 'active'],
    ],
  );
  assert.equal(await local.hasKey(v1!.keyId), false);
  for (const [i, r] of refs.entries()) {
    assert.equal((await keys.decrypt(r, sealed[i]!, { actor: 'u_1', purpose: 'after' })).toString(), `value-${i}`);
  }
  const dks = await keysDb(store.db).selectFrom('data_keys').select('kek_version').execute();
  assert.ok(dks.every((d) => d.kek_version === 3));
  await store.close();
});

let kms: ChildProcess;
let kmsUrl: string;
let kmsOut = '';
const kmsDir = mkdtempSync(join(tmpdir(), 'gigafab-kms-'));

before(async () => {
  kms = spawn(process.execPath, [join(REPO, 'dist/src/sovereignty/keys/kms-server.js'), '--dir', kmsDir, '--port', '0'], {
    env: { ...process.env, GIGAFAB_KMS_SERVER_TOKEN: 'kms-test-token' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  kms.stdout!.on('data', (d) => {
    kmsOut += d;
  });
  kms.stderr!.on('data', (d) => {
    kmsOut += d;
  });
  kmsUrl = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`kms did not start: ${kmsOut}`)), 15_000);
    kms.stdout!.on('data', () => {
      const m = /kms listening on (\S+)/.exec(kmsOut);
      if (m) {
        clearTimeout(t);
        res(m[1]!);
      }
    });
  });
});

after(() => {
  kms?.kill();
});

test('customer-managed key: an external KMS over HTTP; moving the KEK there by rotation; destroy; failures are clear', async () => {
  const { store, dir } = await freshStore();
  const local = new LocalFileKeyProvider(join(dir, 'keys'));
  const customer = new HttpKmsProvider('customer-kms', kmsUrl, 'kms-test-token');
  const providers = new Map<string, KeyProvider>([
    ['local', local],
    ['customer-kms', customer],
  ]);
  const keys = new KeyService(store, providers);
  const ref: ObjectRef = { org: ORG, objectType: 'secret', objectId: 'registry' };
  const sealed = await keys.encrypt(ref, Buffer.from('hunter2'), 'u_1');
  const moved = await keys.rotate(ORG, 'u_admin', 'customer-kms');
  assert.equal(moved.provider, 'customer-kms');
  assert.equal((await keys.decrypt(ref, sealed, { actor: 'u_1', purpose: 't' })).toString(), 'hunter2');
  assert.match(kmsOut, new RegExp(`kms: unwrap key=${moved.keyId} ok`));
  assert.ok(!kmsOut.includes('hunter2'));
  assert.equal(await customer.hasKey(moved.keyId), true);
  // The customer's KMS refuses a caller without its token.
  await assert.rejects(
    new HttpKmsProvider('x', kmsUrl, 'wrong').wrap(moved.keyId, Buffer.from('k'), Buffer.from('a')),
    KeyProviderError,
  );
  // The customer revokes the key at their KMS: gigafab can no longer decrypt anything of theirs.
  await customer.destroy(moved.keyId);
  assert.equal(await customer.hasKey(moved.keyId), false);
  await assert.rejects(
    keys.decrypt(ref, sealed, { actor: 'u_1', purpose: 't' }),
    (e: Error & { code?: string }) => e.code === 'key_destroyed',
  );
  // An unreachable KMS is reported as such, with no key material in the message.
  const gone = new HttpKmsProvider('gone', 'http://127.0.0.1:9', undefined, 2000);
  await assert.rejects(gone.createKey('x'), (e: Error) => e instanceof KeyProviderError && /unreachable/.test(e.message));
  await store.close();
});

test('GIGAFAB_KMS_PROVIDERS: name=url pairs; malformed entries and the reserved name are refused', () => {
  assert.deepEqual(parseKmsProviders(undefined), []);
  assert.deepEqual(parseKmsProviders('customer-kms=https://kms.example/v, hsm=http://10.0.0.5:8200'), [
    ['customer-kms', 'https://kms.example/v'],
    ['hsm', 'http://10.0.0.5:8200'],
  ]);
  assert.throws(() => parseKmsProviders('customer-kms'), /not name=http/);
  assert.throws(() => parseKmsProviders('x=ftp://a'), /not name=http/);
  assert.throws(() => parseKmsProviders('local=http://a'), /reserved/);
});
