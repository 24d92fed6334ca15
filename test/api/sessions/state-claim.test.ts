/**
 * A state dataset has one writer at a time, and deleting it reaches the disk — with the real server on
 * the `local` driver, on SQLite and on PostgreSQL: a second session naming a held state dataset is
 * refused with 409 naming the holder (so is a job writing it; a job reading it is not; the CLI prints
 * the sentence and fails); concurrent submissions let exactly one in; the dataset cannot be deleted
 * while a session holds it; once the session ended the next one claims it, and deleting the dataset
 * removes the directory the driver made, audited; a removal that did not happen (it failed, then the
 * server was killed) is finished at the next start; erasing the organisation removes the state
 * directories of its sessions, a running one's once it has stopped.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { datasetEnvName } from '../../../src/drivers/job-mounts.js';
import { cliRunner } from '../../helpers/cli.js';
import { api, waitFor } from '../../helpers/server.js';
import { DIALECTS, databaseFor } from '../../helpers/store-dialects.js';
import { adminOf } from '../../helpers/tenants.js';
import { type SessionWorld, startSessionWorld } from './fixture.js';

/** chattr +i makes a file that even root cannot remove: a real failure of the driver's removal. */
const noChattr = !existsSync('/usr/bin/chattr') && 'chattr missing (e2fsprogs)';

/** An http session that writes a note into its state dataset, then waits. */
const session = (stateDataset: string) => ({
  name: 'notes',
  project: 'lab-ml',
  gpuType: 'L4',
  kind: 'session',
  priorityClass: 'interactive',
  session: { preset: 'http', stateDataset },
  command: ['/bin/sh', '-c', `echo kept > "$${datasetEnvName(stateDataset)}/note.txt"; exec sleep 600`],
  maxRuntimeSeconds: 900,
});

const batch = (datasets: { reads?: string[]; writes?: string[] }) => ({
  name: 'etl',
  project: 'lab-ml',
  gpuType: 'L4',
  command: ['sleep', '600'],
  datasets: { reads: datasets.reads ?? [], writes: datasets.writes ?? [] },
});

for (const dialect of DIALECTS) {
  describe(`a session state dataset: one writer, erasure on disk (${dialect})`, () => {
    let w: SessionWorld;
    const root = mkdtempSync(join(tmpdir(), `gigafab-state-claim-${dialect}-`));
    const datasetRoot = join(root, 'datasets');
    const ds: Record<string, string> = {};
    const me = () => api(w.server.url, w.member);
    const admin = () => api(w.server.url, adminOf(api(w.server.url, w.server.operatorToken), 'lab'));
    const dirOf = (name: string) => join(datasetRoot, ds[name]!);

    /** running: waits until the job runs (a cancel right at its start is not what these tests are about). */
    const running = (id: string) =>
      waitFor(async () => ((await me()('GET', `/v1/jobs/${id}`)).body.state === 'running' ? true : null), `job ${id} to start`);

    async function stop(id: string): Promise<void> {
      assert.equal((await me()('POST', `/v1/jobs/${id}/cancel`)).status, 202);
      await waitFor(
        async () => ((await me()('GET', `/v1/jobs/${id}`)).body.state === 'cancelled' ? true : null),
        `job ${id} to stop`,
      ).catch(async (e) => {
        throw new Error(`${e} ${JSON.stringify((await me()('GET', `/v1/jobs/${id}/events`)).body)}`);
      });
    }

    async function stateRemovedAudit(id: string, action = 'dataset.state-removed') {
      // The organisation's admin: operators see other organisations' records without their payload.
      const items = (await admin()('GET', '/v1/audit?limit=1000')).body.items;
      return items.find((e: { action: string; objectId: string }) => e.action === action && e.objectId === id);
    }

    before(async () => {
      mkdirSync(datasetRoot);
      const database = dialect === 'postgres' ? await databaseFor(root) : undefined;
      w = await startSessionWorld(`gigafab-state-claim-${dialect}-`, { datasetRoot, database });
      for (const name of ['notebooks', 'race', 'crash', 'erased']) {
        const r = await me()('POST', '/v1/projects/lab-ml/datasets', {
          name,
          classification: 'internal',
          homeSite: 'lab1',
          sizeBytes: 1,
          checksum: `sha256:${'c'.repeat(64)}`,
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ds[name] = r.body.id;
      }
    });

    after(async () => {
      if (w) {
        const live = (await me()('GET', '/v1/jobs?limit=200')).body.items ?? [];
        for (const j of live) if (j.state === 'queued' || j.state === 'running') await me()('POST', `/v1/jobs/${j.id}/cancel`);
        await w.server.stop();
      }
      if (!noChattr && existsSync(root)) execFileSync('chattr', ['-R', '-i', root]);
      rmSync(root, { recursive: true, force: true });
    });

    let holder = '';
    test('a second session naming a held state dataset gets 409 naming the holder; so does a job writing it', async () => {
      const first = await me()('POST', '/v1/jobs', session(ds.notebooks!));
      assert.equal(first.status, 201, JSON.stringify(first.body));
      holder = first.body.id;
      await waitFor(async () => existsSync(join(dirOf('notebooks'), 'note.txt')) || null, 'session 1 to write its state', 60_000);

      const second = await me()('POST', '/v1/jobs', session(ds.notebooks!));
      assert.equal(second.status, 409, JSON.stringify(second.body));
      assert.equal(second.body.code, 'state_dataset_in_use');
      assert.match(
        second.body.detail,
        new RegExp(`state dataset of session ${holder} \\(running\\): one session writes it at a time`),
      );

      const writer = await me()('POST', '/v1/jobs', batch({ writes: [ds.notebooks!] }));
      assert.equal(writer.status, 409, JSON.stringify(writer.body));
      assert.equal(writer.body.code, 'state_dataset_in_use');
      assert.match(writer.body.detail, new RegExp(`session ${holder} \\(running\\): no job writes it while a session holds it`));
      const reader = await me()('POST', '/v1/jobs', batch({ reads: [ds.notebooks!] }));
      assert.equal(reader.status, 201, JSON.stringify(reader.body));
      await running(reader.body.id);
      await stop(reader.body.id);

      // The CLI prints the problem's sentence and fails.
      const { home, gigafab } = cliRunner('gigafab-state-claim-cli-');
      const file = join(home, 'notebook.yaml');
      writeFileSync(file, JSON.stringify(session(ds.notebooks!)));
      const cli = await gigafab(['job', 'submit', '-f', file], { GIGAFAB_URL: w.server.url, GIGAFAB_TOKEN: w.member });
      assert.equal(cli.code, 1, cli.out);
      assert.match(cli.err, new RegExp(`state dataset of session ${holder} \\(running\\)`));
    });

    test('the dataset is not deleted while held; the next session claims it once the first ended; delete removes its directory', async () => {
      const refused = await admin()('DELETE', `/v1/datasets/${ds.notebooks}`);
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'dataset_in_use');
      assert.match(refused.body.detail, new RegExp(`state dataset of session ${holder} \\(running\\): stop session ${holder}`));

      await stop(holder);
      assert.ok(existsSync(join(dirOf('notebooks'), 'note.txt')), 'the state outlives the session');
      const next = await me()('POST', '/v1/jobs', session(ds.notebooks!));
      assert.equal(next.status, 201, JSON.stringify(next.body));
      assert.equal((await admin()('DELETE', `/v1/datasets/${ds.notebooks}`)).status, 409, 'the new session holds it');
      await running(next.body.id);
      await stop(next.body.id);

      const deleted = await admin()('DELETE', `/v1/datasets/${ds.notebooks}`);
      assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
      assert.ok(!existsSync(dirOf('notebooks')), 'the state directory is gone from disk');
      const audit = await stateRemovedAudit(ds.notebooks!);
      assert.ok(audit, 'the removal is audited');
      assert.equal(audit.after.directory, 'removed');
      const late = await me()('POST', '/v1/jobs', session(ds.notebooks!));
      assert.equal(late.status, 404, JSON.stringify(late.body));
    });

    test('concurrent submissions naming one state dataset: exactly one wins, the others hear who', async () => {
      const rs = await Promise.all(Array.from({ length: 8 }, () => me()('POST', '/v1/jobs', session(ds.race!))));
      const won = rs.filter((r) => r.status === 201);
      assert.equal(won.length, 1, JSON.stringify(rs.map((r) => [r.status, r.body.code])));
      const id = won[0]!.body.id;
      for (const r of rs.filter((x) => x.status !== 201)) {
        assert.equal(r.status, 409, JSON.stringify(r.body));
        assert.equal(r.body.code, 'state_dataset_in_use');
        assert.match(r.body.detail, new RegExp(`state dataset of session ${id} \\((queued|running)\\)`));
      }
      await running(id);
      await stop(id);
    });

    test('a removal that did not happen before the server was killed is finished at the next start', {
      skip: noChattr,
    }, async () => {
      const s = await me()('POST', '/v1/jobs', session(ds.crash!));
      assert.equal(s.status, 201, JSON.stringify(s.body));
      const note = join(dirOf('crash'), 'note.txt');
      await waitFor(async () => existsSync(note) || null, 'the session to write its state', 60_000);
      await stop(s.body.id);
      // The driver cannot remove the directory now; the deletion commits, its removal stays pending.
      execFileSync('chattr', ['+i', note]);
      try {
        const deleted = await admin()('DELETE', `/v1/datasets/${ds.crash}`);
        assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
        assert.ok(existsSync(note), 'the removal failed');
        assert.equal(await stateRemovedAudit(ds.crash!), undefined);
        const failed = await stateRemovedAudit(ds.crash!, 'dataset.state-removal-failed');
        // The errno only (node's rm reports ENOTDIR or EPERM here): paths inside the directory are the tenant's.
        assert.deepEqual(
          { ...failed?.after, error: null },
          { directory: 'not removed', error: null, retry: 'every minute and at the next start' },
        );
        assert.match(failed?.after.error, /^E[A-Z]+$/);
        await w.server.stop('SIGKILL');
      } finally {
        execFileSync('chattr', ['-i', note]);
      }
      await w.server.restart();
      await waitFor(async () => !existsSync(dirOf('crash')) || null, 'the restarted server to remove the directory');
      const audit = await waitFor(() => stateRemovedAudit(ds.crash!), 'the removal to be audited');
      assert.equal(audit.after.directory, 'removed');
    });

    // Last: the organisation is gone afterwards.
    test("erasing the organisation removes its sessions' state directories, a running session's once it stopped", async () => {
      const s = await me()('POST', '/v1/jobs', session(ds.erased!));
      assert.equal(s.status, 201, JSON.stringify(s.body));
      const note = join(dirOf('erased'), 'note.txt');
      await waitFor(async () => existsSync(note) || null, 'the session to write its state', 60_000);
      // The org admin erases the organisation while the session runs: erasure stops it, and the
      // directory goes once it has ended (not on the minute's retry: the job's end triggers it).
      const started = Date.now();
      const erased = await admin()('POST', '/v1/orgs/lab/erasure', { confirm: 'lab', reason: 'contract ended' });
      assert.equal(erased.status, 201, JSON.stringify(erased.body));
      assert.ok(erased.body.jobsStopped.includes(s.body.id), JSON.stringify(erased.body.jobsStopped));
      assert.ok(erased.body.stateDirectories.includes(ds.erased), JSON.stringify(erased.body.stateDirectories));
      assert.ok(erased.body.stateDirectories.includes(ds.notebooks), 'a deleted dataset of the org is named too');
      await waitFor(async () => !existsSync(dirOf('erased')) || null, 'the state directory to be removed', 30_000);
      assert.ok(Date.now() - started < 30_000);
      const op = api(w.server.url, w.server.operatorToken);
      const removed = await waitFor(async () => {
        const items = (await op('GET', '/v1/audit?limit=1000')).body.items ?? [];
        return (
          items.find(
            (e: { action: string; objectId: string }) => e.action === 'dataset.state-removed' && e.objectId === ds.erased,
          ) ?? null
        );
      }, 'the removal to be audited');
      assert.equal(removed.org, 'lab');
    });
  });
}
