/** The job service without a server process: idempotent submission, and the one submission check. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../../src/model/errors.js';
import { DIALECTS, storeOpener } from '../helpers/store-dialects.js';
import { harness } from './harness.js';

// Once per store dialect: the service's transactions must behave the same on SQLite and PostgreSQL.
for (const dialect of DIALECTS) {
  const openStore = storeOpener(dialect);
  test(`${dialect}: a retried submission with the same Idempotency-Key returns the first job; a different spec is refused`, async () => {
    const h = await harness({ openStore });
    try {
      const spec = h.spec({ gpusPerNode: 2 });
      const first = await h.cp.jobs.submit(h.tenant, spec, 'key-1');
      const again = await h.cp.jobs.submit(h.tenant, spec, 'key-1');
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.equal(again.job.id, first.job.id);
      assert.equal(h.cp.queueLength(), 1, 'queued once');
      assert.deepEqual(await h.eventTypes(first.job.id), ['queued']);
      await assert.rejects(
        h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 4 }), 'key-1'),
        (err: unknown) => err instanceof DomainError && err.code === 'idempotency_key_reused',
      );
      // Two concurrent tries: the unique index lets one in, the other replays it.
      const [a, b] = await Promise.all([h.cp.jobs.submit(h.tenant, spec, 'key-2'), h.cp.jobs.submit(h.tenant, spec, 'key-2')]);
      assert.equal(a.job.id, b.job.id);
      assert.deepEqual([a.created, b.created].sort(), [false, true]);
      const rows = await h.store.db.selectFrom('jobs').select('id').execute();
      assert.equal(rows.length, 2);
    } finally {
      await h.close();
    }
  });

  test(`${dialect}: checkSubmission refuses a job no node could ever host, before anything is written`, async () => {
    const h = await harness({ openStore });
    try {
      await assert.rejects(
        h.cp.jobs.submit(h.tenant, h.spec({ gpusPerNode: 8, nodes: 5 }), undefined),
        (err: unknown) => err instanceof DomainError,
      );
      const rows = await h.store.db.selectFrom('jobs').select('id').execute();
      assert.equal(rows.length, 0);
    } finally {
      await h.close();
    }
  });
}
