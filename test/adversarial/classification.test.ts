/**
 * Route classification (src/api/route-classes.ts): an app with a route the registry does not
 * classify is refused. (That the real server's routes are all classified, and that the tenancy
 * classes hold there, is checked on the isolation suite's server: isolation.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { appRoutes, ROUTE_CLASSES, requireClassified, routeClass, unclassifiedRoutes } from '../../src/api/route-classes.js';

describe('a test app', () => {
  const build = () => {
    const app = new OpenAPIHono();
    // Middleware is no route, on a wildcard or on one path.
    app.use('*', async (_c, next) => next());
    app.use('/v1/jobs/:id', async (_c, next) => next());
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
    app.all('/v1/anything', (c) => c.text('any method'));
    assert.deepEqual(unclassifiedRoutes(app).sort(), [
      'ALL /v1/anything',
      'DELETE /v1/orgs/{org}/everything',
      'POST /v1/jobs/{id}/exfiltrate',
    ]);
    assert.throws(
      () => requireClassified(app),
      /routes without a tenancy and lockbox classification: .*POST \/v1\/jobs\/\{id\}\/exfiltrate.*src\/api\/route-classes\.ts/,
    );
    const classified = {
      ...ROUTE_CLASSES,
      'POST /v1/jobs/{id}/exfiltrate': { tenancy: 'org', lockbox: 'guarded' },
      'DELETE /v1/orgs/{org}/everything': { tenancy: 'org', lockbox: 'tenant-only' },
      'ALL /v1/anything': { tenancy: 'public', lockbox: 'none' },
    } as const;
    assert.doesNotThrow(() => requireClassified(app, classified));
  });

  test('a name inherited from Object.prototype is no classification', () => {
    assert.equal(routeClass('constructor'), undefined);
    assert.equal(routeClass('GET /v1/whoami')?.tenancy, 'caller');
  });
});
