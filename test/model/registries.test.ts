/** Registry host patterns of an organisation's allow-list: what is accepted, what is refused and why. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../../src/model/errors.js';
import { normaliseRegistries, registryPatternError } from '../../src/model/registries.js';

test('hosts, hosts with a port, localhost and wildcards of a domain are registry patterns', () => {
  for (const p of [
    'registry.eu.example',
    'localhost',
    'localhost:5000',
    'harbor.eu.example:443',
    '*.corp.example',
    'REG.EU.EXAMPLE',
  ])
    assert.equal(registryPatternError(p), null, p);
});

test('refused: a scheme, a path, a bare or too broad wildcard, a wildcard with a port, a bad port, empty', () => {
  for (const p of [
    'https://registry.eu.example',
    'registry.eu.example/team',
    '*',
    '*.com',
    '*.corp.example:5000',
    'a.*.example',
    'reg:0',
    'reg:70000',
    '',
    '-reg.example',
    'reg..example',
  ])
    assert.notEqual(registryPatternError(p), null, p);
});

test('normaliseRegistries lower-cases and deduplicates, or answers 422 registry_pattern_invalid naming each bad entry', () => {
  assert.deepEqual(normaliseRegistries(['Registry.EU.example', 'registry.eu.example', '*.corp.example']), [
    'registry.eu.example',
    '*.corp.example',
  ]);
  assert.deepEqual(normaliseRegistries([]), []);
  assert.throws(
    () => normaliseRegistries(['ok.example', 'https://x.example', '*.com']),
    (e: unknown) =>
      e instanceof DomainError &&
      e.kind === 'unprocessable' &&
      e.code === 'registry_pattern_invalid' &&
      e.errors?.map((f) => f.path).join() === 'registries.1,registries.2' &&
      e.detail.includes('"https://x.example"'),
  );
});
