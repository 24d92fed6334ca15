#!/usr/bin/env node
// Generates clients/python/gigafab/_generated.py from the OpenAPI document the server serves (built
// in-process from the app, no server started). `--check` writes nothing and exits 1 when the
// committed file is stale (run by test/codegen/python.test.ts). Needs the build (`npx tsc`).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `--target FILE` (tests) compares or writes another file than the committed one.
const at = process.argv.indexOf('--target');
const target = at > 0 ? process.argv[at + 1] : join(root, 'clients/python/gigafab/_generated.py');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { openApiDocument } = await import(join(root, 'dist/src/api/openapi-document.js'));
const { OpenApiShape } = await import(join(root, 'dist/src/codegen/openapi-shape.js'));
const { generatePython } = await import(join(root, 'dist/src/codegen/python.js'));

const source = generatePython(OpenApiShape.parse(await openApiDocument(version)));
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {}
  if (committed !== source) {
    console.error(`${target} is stale: the API changed; run \`node scripts/gen-python-client.mjs\` and commit the result`);
    process.exit(1);
  }
  console.log(`${target} is up to date`);
} else {
  writeFileSync(target, source);
  console.log(`wrote ${target}`);
}
