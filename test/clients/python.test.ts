/**
 * The Python SDK (clients/python) against a real server, run by Debian's python3: submit, wait,
 * logs (one chunk and followed), events, cancel, list, and a problem raised as GigafabError.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { z } from 'zod';
import { openApiDocument } from '../../src/api/openapi-document.js';
import { VERSION } from '../../src/compose/start.js';
import { parseJson } from '../../src/model/json.js';
import { addLabTenant, startLocalSiteServer } from '../helpers/local-site.js';
import { api, REPO, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

const Seen = z.object({
  submitted_state: z.string(),
  final_state: z.string(),
  logs: z.string(),
  event_types: z.array(z.string()),
  followed_lines: z.array(z.string()),
  live_event_types: z.array(z.string()),
  cancelled_state: z.string(),
  listed_ids: z.array(z.string()),
  submitted_ids: z.array(z.string()),
  error: z.object({ status: z.number(), code: z.string(), title: z.string(), detail: z.string() }).nullable(),
  missing: z.object({ status: z.number(), code: z.string() }).nullable(),
});

let server: TestServer;
let token: string;
before(async () => {
  server = await startLocalSiteServer('gigafab-pysdk-');
  token = await addLabTenant(api(server.url, server.operatorToken), { name: 'Py', role: 'member' });
});
after(() => server?.stop());

test('the Python SDK submits, waits, reads and follows logs and events, cancels, lists, and raises problems', async () => {
  const { stdout } = await run(PYTHON, [join(REPO, 'test/clients/sdk_walkthrough.py')], {
    env: {
      PATH: process.env.PATH,
      PYTHONPATH: join(REPO, 'clients/python'),
      PYTHONDONTWRITEBYTECODE: '1',
      GIGAFAB_URL: server.url,
      GIGAFAB_TOKEN: token,
    },
    timeout: 120_000,
  });
  const seen = parseJson(stdout, Seen, 'the SDK script output');
  assert.equal(seen.submitted_state, 'queued');
  assert.equal(seen.final_state, 'succeeded');
  assert.equal(seen.logs, 'line-one\nline-two\n');
  assert.equal(seen.event_types.at(0), 'queued');
  assert.equal(seen.event_types.at(-1), 'succeeded');
  assert.deepEqual(seen.followed_lines, ['first', 'second']);
  assert.equal(seen.live_event_types.at(-1), 'succeeded');
  assert.equal(seen.cancelled_state, 'cancelled');
  assert.deepEqual(seen.listed_ids, seen.submitted_ids);
  assert.equal(seen.error?.status, 422);
  assert.equal(seen.error?.code, 'unknown_gpu_type');
  assert.match(seen.error?.detail ?? '', /H999/);
  assert.deepEqual(seen.missing, { status: 404, code: 'job_not_found' });
});

test('the SDK is generated from the document the server serves (openApiDocument equals GET /v1/openapi.json)', async () => {
  const served = await (await fetch(`${server.url}/v1/openapi.json`)).json();
  assert.deepEqual(await openApiDocument(VERSION), served);
});

test('without a token (401) and without a server, Python gets GigafabError too', async () => {
  const script = [
    'from gigafab import Client, GigafabError',
    'for client in (Client(token=""), Client(url="http://127.0.0.1:9", token="x")):',
    '    try:',
    '        client.get(1)',
    '    except GigafabError as e:',
    '        print(e.status, e.code)',
  ].join('\n');
  const { stdout } = await run(PYTHON, ['-c', script], {
    env: {
      PATH: process.env.PATH,
      PYTHONPATH: join(REPO, 'clients/python'),
      PYTHONDONTWRITEBYTECODE: '1',
      GIGAFAB_URL: server.url,
    },
  });
  assert.equal(stdout.trim(), '401 unauthenticated\n0 unreachable');
});
