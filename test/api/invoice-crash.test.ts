/**
 * kill -9 during an invoice run: each organisation's invoice is issued in its own transaction with
 * its audit record, so whatever the crash left is whole (every invoice has its `invoice.issue`
 * record and verifies), and running again after the restart issues exactly the missing ones: each
 * organisation ends with one invoice, none twice, and the audit log verifies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lastMonth, type SeedSegment, seedPrices, seedUsage, withStore } from '../helpers/billing-history.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, waitFor } from '../helpers/server.js';

const ORGS = 300;

test('a run killed with -9 and run again issues each invoice exactly once', async () => {
  const { month, from } = lastMonth();
  const server = await startTestServer({ fleetPath: writeSmallFleet(mkdtempSync(join(tmpdir(), 'gigafab-invoice-crash-'))) });
  try {
    await withStore(server.dataDir, async (s) => {
      await seedPrices(s, from, [{ gpuType: 'B200', class: 'on-demand', cents: 360 }]);
      const segs: SeedSegment[] = [];
      for (let o = 0; o < ORGS; o++) {
        for (let j = 0; j < 5; j++) {
          segs.push({
            org: `org-${String(o).padStart(3, '0')}`,
            project: 'p',
            job: o * 10 + j,
            start: from + (o + j) * 60_000,
            seconds: 60 + o,
            gpus: 1 + j,
          });
        }
      }
      await seedUsage(s, segs);
    });
    let op = api(server.url, server.operatorToken);
    // Fire the run and kill the server while it issues, once some invoices are out (its answer never comes).
    const pending = op('POST', '/v1/invoices/runs', { month }).catch(() => null);
    await waitFor(async () => ((await op('GET', '/v1/invoices')).body.items?.length ?? 0) >= 20, 'the run to issue 20 invoices');
    await server.stop('SIGKILL');
    await pending;
    await server.restart();
    op = api(server.url, server.operatorToken);
    const before = (await op('GET', '/v1/invoices')).body.items as { id: string; org: string }[];
    assert.ok(before.length >= 20 && before.length < ORGS, `the kill hit the run midway (${before.length} issued)`);
    for (const inv of before) assert.equal((await op('GET', `/v1/invoices/${inv.id}/verify`)).body.ok, true, `invoice ${inv.id}`);
    const run = await op('POST', '/v1/invoices/runs', { month });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(
      run.body.issued.length,
      ORGS - before.length,
      `the crash left ${before.length} issued; the rerun issues the rest`,
    );
    const after = (await op('GET', '/v1/invoices')).body.items as { id: string; org: string; netCents: number }[];
    assert.equal(after.length, ORGS);
    assert.equal(new Set(after.map((i) => i.org)).size, ORGS, 'one invoice per organisation');
    // org-007: 5 segments of 67 s at 1..5 GPUs = 1005 GPU-seconds at 3.60 EUR per GPU-hour.
    const o7 = after.find((i) => i.org === 'org-007')!;
    assert.equal(o7.netCents, Math.round((67 * (1 + 2 + 3 + 4 + 5) * 360) / 3600));
    const audit = await op('GET', '/v1/audit?limit=1000&action=invoice.issue');
    const issues = (audit.body.items as { action: string; objectId: string }[]).filter((a) => a.action === 'invoice.issue');
    assert.equal(issues.length, ORGS, 'one audit record per invoice');
    assert.equal(new Set(issues.map((a) => a.objectId)).size, ORGS);
    const v = await op('GET', '/v1/audit/verify');
    assert.equal(v.body.ok, true, JSON.stringify(v.body));
    console.log(`# kill -9 left ${before.length} of ${ORGS} invoices; the rerun issued ${run.body.issued.length}`);
  } finally {
    await server.stop();
  }
});
