import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { JsonShapeError, parseJson } from '../../src/model/json.js';

const Shape = z.object({ a: z.number(), b: z.array(z.string()) });

test('parseJson returns the value when it matches its schema', () => {
  assert.deepEqual(parseJson('{"a":1,"b":["x"]}', Shape, 'row'), { a: 1, b: ['x'] });
});

test('parseJson names what failed and where: bad JSON and a wrong shape', () => {
  assert.throws(
    () => parseJson('{"a":', Shape, 'job spec'),
    (e: unknown) => e instanceof JsonShapeError && /^job spec: not JSON/.test(e.message),
  );
  assert.throws(
    () => parseJson('{"a":"1","b":[]}', Shape, 'job spec'),
    (e: unknown) => e instanceof JsonShapeError && e.message.startsWith('job spec: a:'),
  );
});
