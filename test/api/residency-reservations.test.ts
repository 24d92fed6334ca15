/**
 * Advance reservations obey the owning organisation's residency policy: a reservation asked for a
 * site the policy excludes is refused (422 residency_forbidden, naming the rule), one without a
 * site is held only in a site the policy allows now (never elsewhere, even when only elsewhere has
 * room), and a policy change moves where it is held.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { residencyFleet } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;

before(async () => {
  server = await startTestServer({ fleetPath: residencyFleet(), timeScale: 1 });
});

after(async () => {
  await server?.stop();
});

test('a DE + current C5 organisation: reservations outside de1 are refused or never held there', async () => {
  const op = api(server.url, server.operatorToken);
  for (const org of ['sov', 'filler']) {
    await op('POST', '/v1/orgs', { id: org, name: org, kind: 'enterprise' });
    await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-p` });
    await op('PUT', `/v1/projects/${org}-p/quotas/RTX`, { gpus: 48 });
  }
  const sov = api(server.url, await tenantToken(op, 'sov', { name: 'A', role: 'admin' }));
  const filler = api(server.url, await tenantToken(op, 'filler', { name: 'F', role: 'member' }));
  const policy = { name: 'de-c5', rules: { countries: ['DE'], attestations: ['BSI C5 Type 2'] }, dataClasses: ['internal'] };
  assert.equal((await sov('PUT', '/v1/orgs/sov/residency-policy', policy)).status, 200);

  const start = new Date(Date.now() - 1000).toISOString();
  const end = new Date(Date.now() + 3600_000).toISOString();
  const base = { org: 'sov', gpuType: 'RTX', gpus: 8, start, end };
  const at1 = await op('POST', '/v1/reservations', { ...base, site: 'at1' });
  assert.equal(at1.status, 422, JSON.stringify(at1.body));
  assert.equal(at1.body.code, 'residency_forbidden');
  assert.match(at1.body.detail, /at1 is in AT, not in DE \[org:sov\/de-c5@1:location\]; it allows de1$/);
  const de2 = await op('POST', '/v1/reservations', { ...base, site: 'de2' });
  assert.equal(de2.body.code, 'residency_forbidden');
  assert.match(de2.body.detail, /de2's BSI C5 Type 2 expired 2026-10-01 \[org:sov\/de-c5@1:attestation:BSI C5 Type 2\]/);
  // Three nodes never fit in de1 (two nodes), the only site allowed.
  const big = await op('POST', '/v1/reservations', { ...base, gpus: 24 });
  assert.equal(big.body.code, 'reservation_unplaceable');
  assert.match(big.body.detail, /residency policy allows \(de1\)/);
  assert.equal((await op('GET', '/v1/reservations?org=sov')).body.items.length, 0, 'nothing was created');

  // de1 is full with another organisation's long jobs: the window waits for de1, it is not held elsewhere.
  const fill = [];
  for (const n of ['f1', 'f2']) {
    const id = (
      await filler('POST', '/v1/jobs', {
        name: n,
        project: 'filler-p',
        gpuType: 'RTX',
        gpusPerNode: 8,
        simulation: { durationSeconds: 100_000 },
        constraints: { requiredSites: ['de1'] },
      })
    ).body.id as string;
    await waitFor(async () => (await filler('GET', `/v1/jobs/${id}`)).body.state === 'running', `${n} running`);
    fill.push(id);
  }
  const rsv = await op('POST', '/v1/reservations', base);
  assert.equal(rsv.status, 201, JSON.stringify(rsv.body));
  await new Promise((r) => setTimeout(r, 1500)); // several scheduling cycles
  assert.equal((await op('GET', `/v1/reservations/${rsv.body.id}`)).body.held, null, 'not held outside de1');

  // Room in de1: held there.
  await filler('POST', `/v1/jobs/${fill[0]}/cancel`);
  const held = await waitFor(async () => (await op('GET', `/v1/reservations/${rsv.body.id}`)).body.held, 'held in de1');
  assert.equal(held.site, 'de1');

  // The organisation moves to AT only: the window follows the policy in force.
  const atOnly = { name: 'at-only', rules: { countries: ['AT'] }, dataClasses: ['internal'] };
  assert.equal((await sov('PUT', '/v1/orgs/sov/residency-policy', atOnly)).status, 200);
  const moved = await waitFor(async () => {
    const h = (await op('GET', `/v1/reservations/${rsv.body.id}`)).body.held;
    return h?.site === 'at1' ? h : null;
  }, 'held in at1');
  assert.equal(moved.site, 'at1');
});
