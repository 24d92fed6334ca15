/**
 * Persistent session state end to end, with real processes (the server on the `local` driver, the
 * workload proxy, Debian's jupyter-notebook and OpenSSH): a session names a writable dataset of its
 * project (`session.stateDataset`) as its working directory. A notebook saved through the proxy
 * (Jupyter's contents API) in one session is there in the next one, and in an ssh session's login
 * directory; the session runs only at the dataset's home site; another organisation cannot name the
 * dataset, another project's or a health dataset is refused with a clear 4xx.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, waitFor } from '../../helpers/server.js';
import { type SessionWorld, startSessionWorld } from './fixture.js';
import { sshThroughTunnel } from './ssh-client.js';

const skip =
  (!existsSync('/usr/bin/jupyter-notebook') && 'jupyter-notebook missing: run scripts/ensure-jupyter.sh (as root)') ||
  (!existsSync('/usr/sbin/sshd') && 'sshd missing: run scripts/ensure-openssh-server.sh (as root)');

const NOTEBOOK = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
  cells: [{ cell_type: 'code', id: 'c1', metadata: {}, execution_count: null, outputs: [], source: 'print("kept")' }],
};

let w: SessionWorld;
const root = mkdtempSync(join(tmpdir(), 'gigafab-session-state-'));
const datasetRoot = join(root, 'datasets');
const home = join(root, 'home');
const ds: Record<string, string> = {};

/** proxy: one request to a workload's host at the proxy (node:http: fetch cannot set Host). */
function proxy(
  method: string,
  id: string,
  path: string,
  token: string,
  body?: unknown,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: string; cookies: string[] }> {
  const port = w.proxyPort();
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: {
          host: `${id}.localhost:${port}`,
          authorization: `Bearer ${token}`,
          ...extra,
          ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, cookies: res.headers['set-cookie'] ?? [] }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * The real ssh client (or `sftp` with batch commands) through `gigafab session tunnel ID`
 * (ssh-session.test.ts covers the tunnel itself).
 */
const ssh = (id: string, key: string, remote: string, program: 'ssh' | 'sftp' = 'ssh') =>
  sshThroughTunnel({ id, key, remote, program, login: userInfo().username, token: w.member, url: w.server.url, home });

/**
 * save: PUT a notebook through Jupyter's contents API as its web page does — with the `_xsrf` cookie
 * Jupyter sets on a page and the same value in X-XSRFToken (Jupyter refuses writes without them).
 */
async function save(id: string, name: string): Promise<{ status: number; body: string }> {
  const page = await proxy('GET', id, '/tree', w.member);
  const xsrf = page.cookies.map((c) => /^_xsrf=([^;]+)/.exec(c)?.[1]).find(Boolean);
  assert.ok(xsrf, `Jupyter sets its _xsrf cookie: ${page.status} ${page.cookies}`);
  const content = { type: 'notebook', format: 'json', content: NOTEBOOK };
  return proxy('PUT', id, `/api/contents/${name}`, w.member, content, { cookie: `_xsrf=${xsrf}`, 'x-xsrftoken': xsrf });
}

const session = (preset: 'jupyter' | 'ssh', stateDataset?: string) => ({
  name: `${preset}-state`,
  project: 'lab-ml',
  gpuType: 'L4',
  kind: 'session',
  priorityClass: 'interactive',
  session: { preset, ...(stateDataset ? { stateDataset } : {}) },
  maxRuntimeSeconds: 900,
});

async function running(id: string): Promise<{ placement: { site: string } }> {
  const me = api(w.server.url, w.member);
  await waitFor(
    async () =>
      (await me('GET', '/v1/sessions')).body.items.find((s: { jobId: string; ready: boolean }) => s.jobId === id && s.ready),
    `session ${id} to report its endpoint`,
    60_000,
  );
  return (await me('GET', `/v1/jobs/${id}`)).body;
}

async function stop(id: string): Promise<void> {
  const me = api(w.server.url, w.member);
  assert.equal((await me('POST', `/v1/jobs/${id}/cancel`)).status, 202);
  await waitFor(
    async () => ((await me('GET', `/v1/jobs/${id}`)).body.state === 'cancelled' ? true : null),
    `session ${id} to stop`,
  );
}

before(async () => {
  if (skip) return;
  mkdirSync(datasetRoot);
  mkdirSync(`${datasetRoot}-lab2`);
  mkdirSync(home);
  w = await startSessionWorld('gigafab-session-state-', { datasetRoot, secondSite: true });
  const me = api(w.server.url, w.member);
  const op = api(w.server.url, w.server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs/lab/projects', { id: 'lab-cv' })).status, 201);
  for (const [name, project, classification, homeSite] of [
    ['notebooks', 'lab-ml', 'internal', 'lab1'],
    ['elsewhere', 'lab-ml', 'internal', 'lab2'],
    ['scans', 'lab-ml', 'health', 'lab1'],
    ['vision', 'lab-cv', 'internal', 'lab1'],
  ] as const) {
    const r = await me('POST', `/v1/projects/${project}/datasets`, {
      name,
      classification,
      homeSite,
      sizeBytes: 1,
      checksum: `sha256:${'c'.repeat(64)}`,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ds[name] = r.body.id;
  }
});

after(async () => {
  await w?.server.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('persistent session state in a project dataset', { skip }, () => {
  test('naming an unknown, another project’s, a health or another organisation’s dataset: a clear 4xx', async () => {
    const me = api(w.server.url, w.member);
    const unknown = await me('POST', '/v1/jobs', session('jupyter', 'ds_nosuchthing'));
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.match(unknown.body.detail, /ds_nosuchthing/);
    const other = await me('POST', '/v1/jobs', session('jupyter', ds.vision));
    assert.equal(other.status, 422, JSON.stringify(other.body));
    assert.equal(other.body.code, 'state_dataset_other_project');
    assert.match(other.body.detail, /belongs to project lab-cv, not lab-ml/);
    const health = await me('POST', '/v1/jobs', session('jupyter', ds.scans));
    assert.equal(health.status, 422, JSON.stringify(health.body));
    assert.equal(health.body.code, 'state_dataset_read_only');
    assert.match(health.body.detail, /health data, which jobs never write/);
    const bad = await me('POST', '/v1/jobs', session('jupyter', '../etc'));
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    // Another organisation: the dataset answers as unknown, whatever project the session is in.
    const op = api(w.server.url, w.server.operatorToken);
    await op('POST', '/v1/orgs/rival/projects', { id: 'rival-ml' });
    const rival = await api(w.server.url, w.stranger)('POST', '/v1/jobs', {
      ...session('jupyter', ds.notebooks),
      project: 'rival-ml',
    });
    assert.equal(rival.status, 404, JSON.stringify(rival.body));
    assert.equal(rival.body.code, 'dataset_not_found');
  });

  let firstDir = '';
  test('session 1 saves a notebook through the proxy into the dataset; it outlives the session', async () => {
    const me = api(w.server.url, w.member);
    const r = await me('POST', '/v1/jobs', session('jupyter', ds.notebooks));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    const job = await running(id);
    assert.equal(job.placement.site, 'lab1');
    const listed = (await me('GET', '/v1/sessions')).body.items.find((s: { jobId: string }) => s.jobId === id);
    assert.equal(listed.stateDataset, ds.notebooks);
    await waitFor(async () => ((await proxy('GET', id, '/api', w.member)).status === 200 ? true : null), 'Jupyter', 60_000);
    const put = await save(id, 'kept.ipynb');
    assert.equal(put.status, 201, put.body);
    firstDir = join(datasetRoot, ds.notebooks!);
    // On disk Jupyter keeps a cell's source as a list of lines.
    assert.deepEqual(JSON.parse(readFileSync(join(firstDir, 'kept.ipynb'), 'utf8')).cells[0].source, ['print("kept")']);
    await stop(id);
    assert.ok(existsSync(join(firstDir, 'kept.ipynb')), 'the notebook is still in the dataset after the session');
  });

  test('session 2 of the same project opens it; a session without the dataset does not see it', async () => {
    const me = api(w.server.url, w.member);
    const r = await me('POST', '/v1/jobs', session('jupyter', ds.notebooks));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    await running(id);
    const got = await waitFor(
      async () => {
        const g = await proxy('GET', id, '/api/contents/kept.ipynb', w.member);
        return g.status === 200 ? g : null;
      },
      'the saved notebook in session 2',
      60_000,
    );
    assert.equal(JSON.parse(got.body).content.cells[0].source, 'print("kept")');
    await stop(id);

    const plain = (await me('POST', '/v1/jobs', session('jupyter'))).body.id;
    await running(plain);
    await waitFor(async () => ((await proxy('GET', plain, '/api', w.member)).status === 200 ? true : null), 'Jupyter', 60_000);
    assert.equal((await proxy('GET', plain, '/api/contents/kept.ipynb', w.member)).status, 404);
    await stop(plain);
  });

  test('an ssh session logs in with its dataset as working directory and HOME (through gigafab session tunnel)', async () => {
    const key = join(home, 'id_ada');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ada@laptop', '-f', key]);
    const me = api(w.server.url, w.member);
    assert.equal((await me('POST', '/v1/ssh-keys', { publicKey: readFileSync(`${key}.pub`, 'utf8') })).status, 201);
    const r = await me('POST', '/v1/jobs', session('ssh', ds.notebooks));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    await running(id);
    const res = await waitFor(
      async () => {
        const x = await ssh(
          id,
          key,
          'pwd; echo "home=$HOME"; test -f kept.ipynb && echo has-notebook; echo saved > from-ssh.txt',
        );
        return x.code === 0 ? x : null;
      },
      'an ssh login',
      30_000,
    );
    assert.deepEqual(res.out.trim().split('\n'), [firstDir, `home=${firstDir}`, 'has-notebook']);
    assert.equal(readFileSync(join(firstDir, 'from-ssh.txt'), 'utf8'), 'saved\n');
    // sftp (and scp, which speaks sftp) starts there too.
    const sftp = await ssh(id, key, `pwd\nget from-ssh.txt ${join(home, 'got.txt')}\n`, 'sftp');
    assert.equal(sftp.code, 0, sftp.err);
    assert.match(sftp.out, new RegExp(`Remote working directory: ${firstDir}`));
    assert.equal(readFileSync(join(home, 'got.txt'), 'utf8'), 'saved\n');
    await stop(id);
  });

  test('a session naming a dataset kept at lab2 runs at lab2, on that site’s storage', async () => {
    const me = api(w.server.url, w.member);
    const r = await me('POST', '/v1/jobs', session('jupyter', ds.elsewhere));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    const job = await running(id);
    assert.equal(job.placement.site, 'lab2');
    // The start's residency evidence names the rule that placed it there.
    const ev = await me('GET', `/v1/jobs/${id}/residency`);
    assert.equal(ev.status, 200, JSON.stringify(ev.body));
    assert.ok(
      JSON.stringify(ev.body).includes(`dataset:${ds.elsewhere}:home-site`),
      `the evidence lists the home-site rule: ${JSON.stringify(ev.body)}`,
    );
    await waitFor(async () => ((await proxy('GET', id, '/api', w.member)).status === 200 ? true : null), 'Jupyter', 60_000);
    const put = await save(id, 'there.ipynb');
    assert.equal(put.status, 201, put.body);
    assert.ok(existsSync(join(`${datasetRoot}-lab2`, ds.elsewhere!, 'there.ipynb')));
    await stop(id);
  });
});
