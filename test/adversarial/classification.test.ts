/**
 * Route classification (src/api/route-classes.ts): an app with a route the registry does not
 * classify is refused, every route of the real server is classified and every classification names
 * a real route, and the tenancy classes hold: public routes need no token, every other route
 * refuses a caller without one, and operator-only routes refuse every tenant role.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { appRoutes, ROUTE_CLASSES, requireClassified, routeClass, unclassifiedRoutes } from '../../src/api/route-classes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { addTenant, bodyFor, caller, fill, key, type Operation, operations, ROLES, send, type Tenant } from './world.js';

describe('a test app', () => {
  const build = () => {
    const app = new OpenAPIHono();
    app.use('*', async (_c, next) => next()); // middleware is no route
    app.get('/healthz', (c) => c.text('ok'));
    app.openapi(
      createRoute({
        method: 'get',
        path: '/v1/jobs/{id}',
        request: { params: z.object({ id: z.string() }) },
        responses: { 200: { description: 'a job' } },
      }),
      (c) => c.text('job'),
    );
    return app;
  };

  test('with every route classified, it is accepted', () => {
    const app = build();
    assert.deepEqual(appRoutes(app).sort(), ['GET /healthz', 'GET /v1/jobs/{id}']);
    assert.deepEqual(unclassifiedRoutes(app), []);
    assert.doesNotThrow(() => requireClassified(app));
  });

  test('a dummy route nobody classified is found, by OpenAPI route or plain handler, and the app refused', () => {
    const app = build();
    app.openapi(
      createRoute({
        method: 'post',
        path: '/v1/jobs/{id}/exfiltrate',
        request: { params: z.object({ id: z.string() }) },
        responses: { 200: { description: 'everything' } },
      }),
      (c) => c.text('everything'),
    );
    app.delete('/v1/orgs/:org/everything', (c) => c.text('gone'));
    assert.deepEqual(unclassifiedRoutes(app).sort(), ['DELETE /v1/orgs/{org}/everything', 'POST /v1/jobs/{id}/exfiltrate']);
    assert.throws(
      () => requireClassified(app),
      /routes without a tenancy and lockbox classification: .*POST \/v1\/jobs\/\{id\}\/exfiltrate.*src\/api\/route-classes\.ts/,
    );
    const classified = {
      ...ROUTE_CLASSES,
      'POST /v1/jobs/{id}/exfiltrate': { tenancy: 'org', lockbox: 'guarded' },
      'DELETE /v1/orgs/{org}/everything': { tenancy: 'org', lockbox: 'tenant-only' },
    } as const;
    assert.doesNotThrow(() => requireClassified(app, classified));
  });

  test('a name inherited from Object.prototype is no classification', () => {
    assert.equal(routeClass('constructor'), undefined);
    assert.equal(routeClass('GET /v1/whoami')?.tenancy, 'caller');
  });
});

describe('the real server', () => {
  let server: TestServer;
  let ops: Operation[];
  let tenant: Tenant;

  before(async () => {
    server = await startTestServer();
    tenant = await addTenant(server, caller(server, server.operatorToken), 'classy', 'B200');
    ops = await operations(server.url);
  });
  after(async () => {
    await server?.stop();
  });

  const values = { id: 'x1', org: 'classy', project: 'classy-ml', name: 'n', user: 'u_1', gpuType: 'B200' };

  test('every operation of the OpenAPI document is classified, every classification names a served route', async () => {
    assert.deepEqual(
      ops.map(key).filter((k) => !routeClass(k)),
      [],
    );
    const documented = new Set(ops.map(key));
    for (const route of Object.keys(ROUTE_CLASSES).filter((k) => !documented.has(k))) {
      const [method, path] = route.split(' ') as [string, string];
      const r = await send(server.url, '', method, path);
      assert.ok(!r.text.includes('route_not_found'), `${route} is classified but not served: ${r.status}`);
    }
  });

  test('public routes answer without a token; every other route answers 401 without one', async () => {
    for (const [route, cls] of Object.entries(ROUTE_CLASSES)) {
      const [method, path] = route.split(' ') as [string, string];
      const filled = path.replace(/\{(\w+)\}/g, (_, k: string) => values[k as keyof typeof values] ?? 'x');
      const r = await fetch(`${server.url}${filled}`, { method });
      await r.arrayBuffer();
      if (cls.tenancy === 'public') assert.equal(r.status, 200, route);
      else assert.equal(r.status, 401, `${route} without a token: ${r.status}`);
    }
  });

  test('operator-only routes refuse every role of an organisation with 403, valid body or none', async () => {
    const operatorOnly = ops.filter((o) => routeClass(key(o))?.tenancy === 'operator');
    assert.ok(operatorOnly.length >= 10, `${operatorOnly.length} operator-only operations`);
    const node = 'muc1-b200-0001';
    for (const o of operatorOnly) {
      for (const role of ROLES) {
        const r = await send(
          server.url,
          tenant.tokens[role],
          o.method,
          fill(o, { ...values, id: node }),
          bodyFor(o, { ...values, site: 'muc1' }),
        );
        assert.equal(r.status, 403, `${key(o)} as the ${role}: ${r.text.slice(0, 200)}`);
      }
    }
  });
});
