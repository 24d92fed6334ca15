/**
 * Budget alerts and their signed webhooks against a real server and a real HTTP receiver on
 * loopback (allowed by the server's policy file, budgetAlerts.allowLoopback): an organisation's
 * admin creates the signing secret (shown once; operators get 403), sets thresholds and a URL; a
 * job that takes committed spend past 50 % raises one alert, whose delivery fails once (HTTP 500),
 * is retried and arrives signed (HMAC-SHA256 over `t.body`, verified here); the alert lists with
 * its delivery; a pending delivery survives a kill -9 and a restart. Private, link-local and (by
 * default) loopback targets are refused (SSRF).
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DomainError } from '../../src/model/errors.js';
import { checkWebhookUrl } from '../../src/server/webhook-target.js';
import { cliRunner } from '../helpers/cli.js';
import { writeSmallFleet } from '../helpers/fleets.js';
import { api, startTestServer, type TestServer, waitFor } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

let server: TestServer;
let receiver: Server;
let hookUrl = '';
const received: { signature: string; body: string; status: number }[] = [];
let op: ReturnType<typeof api>;
let acme: ReturnType<typeof api>;
let acmeToken = '';

before(async () => {
  // The receiver answers 500 to the first delivery, 200 afterwards.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const status = received.length === 0 ? 500 : 200;
      received.push({ signature: String(req.headers['gigafab-signature'] ?? ''), body, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-webhooks-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'budgetAlerts:\n  allowLoopback: true\n  checkIntervalSeconds: 0.1\n  retryBaseSeconds: 0.2\n');
  server = await startTestServer({ fleetPath: writeSmallFleet(dir), extraArgs: ['--policy', policy] });
  op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'acme', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);
  assert.equal((await op('PUT', '/v1/projects/acme-ml/quotas/B200', { gpus: 16 })).status, 200);
  const prices = { granularity: 'second', prices: [{ gpuType: 'B200', class: 'on-demand', centsPerGpuHour: 3600 }] };
  assert.equal((await op('POST', '/v1/price-versions', prices)).status, 201);
  acmeToken = await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' });
  acme = api(server.url, acmeToken);
});
after(async () => {
  await server?.stop();
  await new Promise((r) => receiver?.close(r));
});

test('a threshold crossed raises one alert, delivered signed after a retry', async () => {
  const early = await acme('PUT', '/v1/orgs/acme/budget', { capCents: 100_000, alertThresholds: [50, 80], webhookUrl: hookUrl });
  assert.deepEqual([early.status, early.body.code], [422, 'webhook_secret_missing']);
  assert.equal((await op('POST', '/v1/orgs/acme/budget-webhook-secret')).status, 403, 'operators never hold the secret');
  const created = await acme('POST', '/v1/orgs/acme/budget-webhook-secret');
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const secret: string = created.body.secret;
  assert.match(secret, /^whsec_[0-9a-f]{64}$/);
  const set = await acme('PUT', '/v1/orgs/acme/budget', { capCents: 100_000, alertThresholds: [80, 50], webhookUrl: hookUrl });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual([set.body.alertThresholds, set.body.webhookUrl], [[50, 80], hookUrl]);
  // EUR 576.00 of EUR 1000.00 committed: 50 % crossed, 80 % not.
  const job = { name: 'big', project: 'acme-ml', gpuType: 'B200', gpusPerNode: 8, maxRuntimeSeconds: 7200 };
  assert.equal((await acme('POST', '/v1/jobs', job)).status, 201);
  await waitFor(async () => received.length >= 2, 'the delivery, retried after the 500');
  const [first, second] = received;
  assert.equal(first.status, 500);
  assert.equal(second.body, first.body, 'the retry sends the same event');
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(second.signature);
  assert.ok(m, second.signature);
  assert.equal(createHmac('sha256', secret).update(`${m[1]}.${second.body}`).digest('hex'), m[2], 'the signature verifies');
  assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 60);
  // The README's verification example, as printed there, accepts it and refuses a tampered body.
  const verify = readmeVerify();
  assert.equal(verify(secret, second.signature, second.body), true);
  assert.equal(verify(secret, second.signature, second.body.replace('"thresholdPct":50', '"thresholdPct":5')), false);
  assert.equal(verify(`${secret}x`, second.signature, second.body), false);
  const event = JSON.parse(second.body);
  assert.equal(event.type, 'budget.threshold_crossed');
  assert.deepEqual([event.org, event.thresholdPct, event.capCents], ['acme', 50, 100_000]);
  assert.ok(event.spentCents + event.committedCents >= 57_600);
  const alerts = await waitFor(async () => {
    const r = await acme('GET', '/v1/orgs/acme/budget-alerts');
    return r.body.items?.[0]?.delivery.state === 'delivered' ? r.body.items : null;
  }, 'the alert lists as delivered');
  assert.equal(alerts.length, 1);
  assert.deepEqual([alerts[0].thresholdPct, alerts[0].delivery.attempts, alerts[0].delivery.url], [50, 2, hookUrl]);
  // Once per threshold per month: later checks add nothing.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await acme('GET', '/v1/orgs/acme/budget-alerts')).body.items.length, 1);
  assert.equal(received.length, 2);
  const audit = await op('GET', '/v1/audit?limit=1000');
  const actions = audit.body.items.map((a: { action: string }) => a.action);
  assert.ok(actions.includes('budget.alert') && actions.includes('budget.alert.delivered'), actions.join(','));
});

test('webhook URLs to private, link-local or reserved addresses are refused with a code', async () => {
  for (const url of ['https://10.0.0.1/hook', 'https://169.254.169.254/latest', 'https://[fd00::1]/x', 'https://192.168.1.10/']) {
    const r = await acme('PUT', '/v1/orgs/acme/budget', { capCents: 100_000, webhookUrl: url });
    assert.deepEqual([r.status, r.body.code], [422, 'webhook_url_refused'], url);
  }
  const bad = await acme('PUT', '/v1/orgs/acme/budget', { capCents: 100_000, webhookUrl: 'not a url' });
  assert.equal(bad.status, 400);
  const badThresholds = await acme('PUT', '/v1/orgs/acme/budget', { capCents: 100_000, alertThresholds: [50, 50] });
  assert.equal(badThresholds.status, 400);
});

test('without the server setting, loopback and plain http are refused too; a public https address passes', async () => {
  const refused = (e: unknown) => e instanceof DomainError && e.code === 'webhook_url_refused';
  for (const url of [
    'https://127.0.0.1/x',
    'https://[::1]/x',
    'https://[::ffff:10.1.2.3]/x',
    'http://8.8.8.8/x',
    'ftp://8.8.8.8/x',
  ]) {
    await assert.rejects(checkWebhookUrl(url, false), refused, url);
  }
  await assert.rejects(checkWebhookUrl('https://10.0.0.1/x', true), refused, 'the setting allows loopback only');
  await checkWebhookUrl('https://8.8.8.8/x', false);
  await checkWebhookUrl('http://127.0.0.1:9/x', true);
});

test('gigafab budget set --alert --webhook, budget alerts and budget webhook-secret', async () => {
  const { gigafab } = cliRunner('gigafab-budget-alerts-cli-');
  const env = { GIGAFAB_URL: server.url, GIGAFAB_TOKEN: acmeToken };
  const set = await gigafab(['budget', 'set', 'acme', '1000', '--alert', '50,80,100', '--webhook', hookUrl], env);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /^Alerts at:\s+50 %, 80 %, 100 %$/m);
  const bad = await gigafab(['budget', 'set', 'acme', '1000', '--alert', '50,101'], env);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /percents from 1 to 100/);
  const refused = await gigafab(['budget', 'set', 'acme', '1000', '--webhook', 'https://10.1.1.1/x'], env);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /webhook_url_refused/);
  const alerts = await gigafab(['budget', 'alerts', 'acme'], env);
  assert.equal(alerts.code, 0, alerts.err);
  assert.match(alerts.out, /\sacme\s+\d{4}-\d{2}\s+50 %\s+delivered\s+2\s/);
  const secret = await gigafab(['budget', 'webhook-secret', 'acme'], env);
  assert.equal(secret.code, 0, secret.err);
  assert.match(secret.out, /^whsec_[0-9a-f]{64}\n# shown once/);
});

/** readmeVerify: the `verify` function of README.md's signature example, compiled as it stands there. */
function readmeVerify(): (secret: string, header: string, body: string) => boolean {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const block = /```js\n(import \{ createHmac, timingSafeEqual \} from 'node:crypto';\n)(function verify[\s\S]*?)```/.exec(
    readme,
  );
  assert.ok(block, 'README.md has the verification example');
  return new Function('createHmac', 'timingSafeEqual', `${block[2]}\nreturn verify;`)(createHmac, timingSafeEqual);
}

test('a pending delivery survives a restart: the receiver is down, the server restarts, the retry arrives', async () => {
  // A port with nothing listening yet.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const url = `http://127.0.0.1:${port}/later`;
  // Committed spend for the project: a job to its limit (EUR 576.00), queued or running.
  const job = { name: 'later', project: 'acme-ml', gpuType: 'B200', gpusPerNode: 8, maxRuntimeSeconds: 7200 };
  assert.equal((await acme('POST', '/v1/jobs', job)).status, 201);
  const set = await acme('PUT', '/v1/projects/acme-ml/budget', { capCents: 100_000, alertThresholds: [10], webhookUrl: url });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const failing = await waitFor(async () => {
    const items = (await acme('GET', '/v1/orgs/acme/budget-alerts')).body.items as {
      project?: string;
      delivery: { attempts: number; state: string; lastError: string | null };
    }[];
    const a = items.find((i) => i.project === 'acme-ml');
    return a && a.delivery.attempts >= 1 ? a : null;
  }, 'a failed first attempt');
  assert.equal(failing.delivery.state, 'pending');
  assert.match(failing.delivery.lastError ?? '', /ECONNREFUSED/);
  await server.stop('SIGKILL');
  const got: string[] = [];
  const late = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      got.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => late.listen(port, '127.0.0.1', r));
  try {
    await server.restart();
    acme = api(server.url, acmeToken);
    await waitFor(async () => got.length >= 1, 'the delivery after the restart');
    assert.equal(JSON.parse(got[0]).project, 'acme-ml');
    const done = await waitFor(async () => {
      const items = (await acme('GET', '/v1/orgs/acme/budget-alerts')).body.items as {
        project?: string;
        delivery: { state: string };
      }[];
      return items.find((i) => i.project === 'acme-ml' && i.delivery.state === 'delivered') ?? null;
    }, 'the alert lists as delivered');
    assert.ok(done);
  } finally {
    await new Promise((r) => late.close(r));
  }
});
