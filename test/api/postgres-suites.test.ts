/**
 * HTTP suites that were written for SQLite, run again with the server on PostgreSQL
 * (GIGAFAB_TEST_STORE=postgres: each server gets its own database on a throwaway cluster). Each suite
 * runs in a child test process, as `npm test` would run it; its failures are reported here in full.
 * Suites that open the SQLite file directly (audit tampering, backups) stay SQLite-only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO } from '../helpers/server.js';

const run = promisify(execFile);
const SUITES = ['spine', 'scheduling', 'crash-recovery', 'lent-credit'];

for (const suite of SUITES) {
  test(`postgres: the ${suite} suite passes with the server on PostgreSQL`, async () => {
    const file = join(REPO, 'dist/test/api', `${suite}.test.js`);
    // NODE_TEST_CONTEXT would make the child report to this runner's protocol instead of printing TAP.
    const { NODE_TEST_CONTEXT: _, ...parent } = process.env;
    const env = { ...parent, GIGAFAB_TEST_STORE: 'postgres' };
    const out = await run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', file], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      assert.fail(`${suite} failed on PostgreSQL:\n${err.stdout ?? ''}\n${err.stderr ?? err.message}`);
    });
    assert.match(out.stdout, /^# fail 0$/m);
    assert.doesNotMatch(out.stdout, /^# pass 0$/m, 'it ran tests');
  });
}
