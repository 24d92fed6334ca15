/**
 * The OpenAPI document is made for generators: every operation has a stable, unique camelCase
 * operationId (client method names come from it), and every JSON request body carries a whole
 * example that its own validating schema accepts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { describedApp, openApiDocument } from '../../src/api/openapi-document.js';
import { OpenApiShape } from '../../src/codegen/openapi-shape.js';

const OperationLoose = z.looseObject({
  operationId: z.string().optional(),
  parameters: z
    .array(
      z.looseObject({
        name: z.string(),
        in: z.string(),
        example: z.unknown().optional(),
        schema: z.looseObject({ example: z.unknown().optional() }).optional(),
      }),
    )
    .optional(),
});

interface Operation {
  method: string;
  path: string;
  operationId?: string;
  parameters: { name: string; in: string; example?: unknown; schema?: { example?: unknown } }[];
}

async function operations(): Promise<Operation[]> {
  const doc = OpenApiShape.parse(await openApiDocument('test'));
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      // Checked loosely here: a missing operationId must be reported, not fail the parse.
      const op = OperationLoose.parse(raw);
      ops.push({ method, path, operationId: op.operationId, parameters: op.parameters ?? [] });
    }
  }
  return ops;
}

test('every operation has a camelCase operationId, and no two share one', async () => {
  const ops = await operations();
  assert.ok(ops.length > 50, `expected the whole API, got ${ops.length} operations`);
  const missing = ops.filter((o) => !o.operationId).map((o) => `${o.method.toUpperCase()} ${o.path}`);
  assert.deepEqual(missing, [], 'operations without an operationId');
  const badCase = ops.filter((o) => !/^[a-z][a-zA-Z0-9]*$/.test(o.operationId ?? '')).map((o) => o.operationId);
  assert.deepEqual(badCase, [], 'operationIds that are not camelCase');
  const seen = new Map<string, string>();
  const collisions: string[] = [];
  for (const o of ops) {
    const where = `${o.method.toUpperCase()} ${o.path}`;
    const first = seen.get(o.operationId ?? '');
    if (first) collisions.push(`${o.operationId}: ${first} and ${where}`);
    else seen.set(o.operationId ?? '', where);
  }
  assert.deepEqual(collisions, [], 'operationIds used twice');
});

test('the job operations keep the ids the Python SDK calls', async () => {
  const ids = new Set((await operations()).map((o) => o.operationId));
  for (const id of ['submitJob', 'listJobs', 'getJob', 'cancelJob', 'listJobEvents', 'streamJobEvents', 'getJobLogs']) {
    assert.ok(ids.has(id), `operationId ${id} is gone (clients/python calls it)`);
  }
});

test('every path parameter has an example', async () => {
  const without = (await operations()).flatMap((o) =>
    o.parameters
      .filter((p) => p.in === 'path' && p.example === undefined && p.schema?.example === undefined)
      .map((p) => `${o.operationId}: ${p.name}`),
  );
  assert.deepEqual(without, []);
});

test('every JSON request body has a whole example that its own schema accepts', () => {
  const problems: string[] = [];
  let bodies = 0;
  for (const def of describedApp('test').openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const media = def.route.request?.body?.content['application/json'];
    if (!media || '$ref' in media) continue;
    bodies++;
    const id = def.route.operationId ?? `${def.route.method} ${def.route.path}`;
    if (media.example === undefined) {
      problems.push(`${id}: no example (add one to src/model/examples.ts)`);
      continue;
    }
    const schema = media.schema;
    if (!schema || !('safeParse' in schema)) continue;
    const r = schema.safeParse(media.example);
    if (!r.success)
      problems.push(`${id}: ${r.error.issues.map((i: z.core.$ZodIssue) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  assert.ok(bodies > 20, `expected the API's request bodies, got ${bodies}`);
  assert.deepEqual(problems, []);
});

test('an example that breaks its schema is caught (the check above can fail)', () => {
  const def = describedApp('test').openAPIRegistry.definitions.find(
    (d) => d.type === 'route' && d.route.operationId === 'submitJob',
  );
  assert.ok(def?.type === 'route');
  const media = def.route.request?.body?.content['application/json'];
  assert.ok(media && !('$ref' in media) && media.schema && 'safeParse' in media.schema);
  assert.equal(media.schema.safeParse({ ...Object(media.example), gpusPerNode: -1 }).success, false);
});
