/**
 * The Python client generator: the committed clients/python/gigafab/_generated.py is what the
 * generator makes of the served OpenAPI document (`--check` fails when it is stale), the output is
 * valid Python with one method per operation, and schemas become TypedDicts with required keys.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { z } from 'zod';
import { openApiDocument } from '../../src/api/openapi-document.js';
import { OpenApiShape, operations } from '../../src/codegen/openapi-shape.js';
import { generatePython, snakeCase } from '../../src/codegen/python.js';
import { parseJson } from '../../src/model/json.js';
import { REPO } from '../helpers/server.js';

const run = promisify(execFile);
const SCRIPT = join(REPO, 'scripts/gen-python-client.mjs');

test('the committed Python client is up to date with the API (gen-python-client.mjs --check)', async () => {
  const { stdout } = await run(process.execPath, [SCRIPT, '--check']);
  assert.match(stdout, /up to date/);
});

test('--check fails, naming the fix, when the client is stale', async () => {
  const stale = join(mkdtempSync(join(tmpdir(), 'gigafab-codegen-')), '_generated.py');
  writeFileSync(
    stale,
    readFileSync(join(REPO, 'clients/python/gigafab/_generated.py'), 'utf8').replace('def submit_job', 'def submit'),
  );
  await assert.rejects(
    run(process.execPath, [SCRIPT, '--check', '--target', stale]),
    (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr ?? '', /stale.*gen-python-client\.mjs/);
      return true;
    },
  );
});

test('the generated module is valid Python with one method per operation', async () => {
  const doc = OpenApiShape.parse(await openApiDocument('0.1.0'));
  const expected = operations(doc)
    .map((o) => snakeCase(o.op.operationId))
    .sort();
  const script =
    'import inspect, json\nfrom gigafab._generated import GeneratedApi\nprint(json.dumps(sorted(n for n, _ in inspect.getmembers(GeneratedApi, inspect.isfunction) if not n.startswith("_"))))';
  const { stdout } = await run('/usr/bin/python3', ['-c', script], {
    env: { PATH: process.env.PATH, PYTHONPATH: join(REPO, 'clients/python'), PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.deepEqual(parseJson(stdout, z.array(z.string()), 'the methods of GeneratedApi'), expected);
});

test('schemas become TypedDicts (required keys in a base class) and operations typed methods', () => {
  const doc = OpenApiShape.parse({
    openapi: '3.1.0',
    info: { title: 'demo', version: '1' },
    paths: {
      '/v1/things/{id}': {
        post: {
          operationId: 'renameThing',
          summary: 'Rename a thing',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'from', in: 'query', schema: { type: 'string' } },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Rename' } } } },
          responses: {
            '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
          },
        },
      },
    },
    components: {
      schemas: {
        Rename: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        Thing: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            tags: { type: 'array', items: { type: 'string' } },
            kind: { enum: ['a', 'b'] },
            note: { type: ['string', 'null'] },
          },
          required: ['id', 'kind'],
        },
      },
    },
  });
  const py = generatePython(doc);
  assert.match(py, /class Rename\(TypedDict\):\n {4}name: str\n/);
  assert.match(py, /class _ThingRequired\(TypedDict\):\n {4}id: str\n {4}kind: Literal\["a", "b"\]\n/);
  assert.match(py, /class Thing\(_ThingRequired, total=False\):\n {4}tags: List\[str\]\n {4}note: Optional\[str\]\n/);
  assert.match(
    py,
    /def rename_thing\(self, id: Union\[str, int\], body: "Rename", \*, from_: Optional\[str\] = None\) -> "Thing":/,
  );
  assert.match(py, /query=\{"from": from_\}/);
});
