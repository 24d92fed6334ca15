/**
 * Property-based fuzz of every route that takes a body, as listed by the server's own OpenAPI
 * document (a new body route is fuzzed without touching this file): malformed JSON, wrong types,
 * huge and unicode strings, NaN/negative/huge numbers, unknown fields, path traversal and SQL
 * metacharacters, in bodies and in path parameters. Every answer must be a 4xx problem+json with a
 * request id (never a 5xx, never a success), the store must be unchanged after each refusal (a
 * digest of every table), and the server must stay healthy with bounded memory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { api, startTestServer, type TestServer } from '../helpers/server.js';
import { tenantToken } from '../helpers/tenants.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  required?: string[];
  example?: unknown;
  minimum?: number;
  maximum?: number;
  format?: string;
}
interface BodyRoute {
  method: string;
  path: string;
  schema: SchemaNode;
}

/** Tables whose rows change with time alone (checkpoints are signed every minute). */
const VOLATILE_TABLES = new Set(['audit_checkpoints', 'kysely_migration_lock']);
/** Columns that record use rather than state (a token's last use). */
const VOLATILE_COLUMN = /^last_used/i;

// Knobs for a longer hunt or a replay: GIGAFAB_FUZZ_RUNS=500 GIGAFAB_FUZZ_ONLY=/v1/jobs GIGAFAB_FUZZ_SEED=-2215…
const RUNS_PER_ROUTE = Number(process.env.GIGAFAB_FUZZ_RUNS ?? 10);
const ONLY = process.env.GIGAFAB_FUZZ_ONLY;
const SEED = process.env.GIGAFAB_FUZZ_SEED ? { seed: Number(process.env.GIGAFAB_FUZZ_SEED) } : {};

let server: TestServer;
let db: Database.Database;
let tokens: { operator: string; admin: string };
let routes: BodyRoute[];
let components: Record<string, SchemaNode>;
let ids: Record<string, string>;

before(async () => {
  // Rate limits are tested elsewhere (test/api/limits); here they would only turn refusals into 429s.
  const limits = join(tmpdir(), `gigafab-fuzz-limits-${process.pid}.yaml`);
  writeFileSync(limits, 'rateLimits: { enabled: false }\n');
  server = await startTestServer({ timeScale: 600, extraArgs: ['--limits', limits] });
  const op = api(server.url, server.operatorToken);
  assert.equal((await op('POST', '/v1/orgs', { id: 'acme', name: 'Acme', kind: 'start-up' })).status, 201);
  assert.equal((await op('POST', '/v1/orgs/acme/projects', { id: 'acme-ml' })).status, 201);
  tokens = { operator: server.operatorToken, admin: await tenantToken(op, 'acme', { name: 'Ada', role: 'admin' }) };
  const ada = api(server.url, tokens.admin);
  // No quota: the job waits, so nothing changes with time alone.
  const job = await ada('POST', '/v1/jobs', { name: 'waits', project: 'acme-ml', gpuType: 'B200' });
  assert.equal(job.status, 201);
  const node = (await op('GET', '/v1/nodes?limit=1')).body.items[0].id as string;
  ids = { job: job.body.id, node };

  const doc = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: SchemaNode }> } }>>;
    components: { schemas: Record<string, SchemaNode> };
  };
  components = doc.components.schemas;
  routes = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(ops)) {
      const schema = operation.requestBody?.content['application/json']?.schema;
      if (schema && (!ONLY || path === ONLY)) routes.push({ method: method.toUpperCase(), path, schema });
    }
  }
  db = new Database(join(server.dataDir, 'gigafab.db'), { readonly: true, fileMustExist: true });
});

after(async () => {
  db?.close();
  await server?.stop();
});

/** digest: per table, a hash of its rows (in rowid order), volatile tables and columns left out. */
function digest(): Record<string, string> {
  const out: Record<string, string> = {};
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
  for (const { name } of tables) {
    if (VOLATILE_TABLES.has(name)) continue;
    const h = createHash('sha256');
    for (const row of db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all() as Record<string, unknown>[]) {
      // sqlite_sequence counts the volatile tables' ids too.
      if (name === 'sqlite_sequence' && VOLATILE_TABLES.has(String(row.name))) continue;
      for (const [k, v] of Object.entries(row)) if (!VOLATILE_COLUMN.test(k)) h.update(`${k}=${String(v)};`);
      h.update('\n');
    }
    out[name] = h.digest('hex');
  }
  return out;
}

/** assertUnchanged names the tables whose rows differ from `before`. */
function assertUnchanged(before: Record<string, string>, what: string) {
  const now = digest();
  const changed = Object.keys({ ...before, ...now }).filter((t) => before[t] !== now[t]);
  assert.deepEqual(changed, [], `${what} changed the store`);
}

const resolve = (s: SchemaNode): SchemaNode => {
  if (s.$ref) return resolve(components[s.$ref.replace('#/components/schemas/', '')] ?? {});
  if (s.allOf?.length === 1) return resolve(s.allOf[0]!);
  return s;
};

/** jsonTypes: the JSON types a schema accepts (empty: it does not say, so anything may be valid). */
function jsonTypes(s: SchemaNode): Set<string> {
  const r = resolve(s);
  const out = new Set<string>();
  const add = (t: string) => {
    out.add(t);
    if (t === 'integer') out.add('number');
  };
  if (Array.isArray(r.type)) for (const t of r.type) add(t);
  else if (r.type) add(r.type);
  else if (r.enum) for (const v of r.enum) add(v === null ? 'null' : typeof v);
  else if (r.const !== undefined) add(r.const === null ? 'null' : typeof r.const);
  for (const alt of [...(r.anyOf ?? []), ...(r.oneOf ?? [])]) {
    const t = jsonTypes(alt);
    if (t.size === 0) return new Set();
    for (const x of t) out.add(x);
  }
  return out;
}

// ---------------------------------------------------------------- generators

const traversal = fc.constantFrom(
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '/etc/shadow',
  '..\\..\\windows\\system32',
  'file:///etc/passwd',
  '%00',
  '\u0000',
  '.',
  '..',
);
const sql = fc.constantFrom(
  "' OR '1'='1",
  "'; DROP TABLE jobs; --",
  '" OR ""="',
  '1; SELECT * FROM tokens',
  "acme' --",
  '%',
  '_',
  '\\',
  "') UNION SELECT hash FROM tokens --",
);
const hugeString = fc.constantFrom(1_000, 70_000, 300_000).map((n) => 'Ω'.repeat(n));
const unicode = fc.string({ unit: 'binary', maxLength: 64 });
const nastyString = fc.oneof(traversal, sql, hugeString, unicode, fc.constantFrom('', ' ', '\u202e', '😀'.repeat(40), 'NaN'));
const nastyNumber = fc.constantFrom(-1, -0, 0, 0.5, 1e308, -1e308, 2 ** 53 + 2, -(2 ** 31), 4294967297, 1e-320);
const nastyValue: fc.Arbitrary<Json> = fc.oneof(
  nastyString,
  nastyNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(nastyString, { maxLength: 4 }),
  fc.dictionary(fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor')), nastyString, { maxKeys: 3 }),
);
/** Numbers JSON.parse accepts but JSON.stringify never writes (Infinity, -Infinity, 0, a precision loss). */
const rawNumbers = fc.constantFrom(
  '1e400',
  '-1e400',
  '1e-400',
  '123456789012345678901234567890',
  '-0.0e0',
  '0.0000000000000000001',
);

/** valueOfOtherType: a value whose JSON type the property does not accept. */
function valueOfOtherType(accepts: Set<string>): fc.Arbitrary<Json> {
  const byType: [string, fc.Arbitrary<Json>][] = [
    ['string', nastyString],
    ['number', nastyNumber],
    ['boolean', fc.boolean()],
    ['null', fc.constant(null)],
    ['array', fc.array(nastyValue, { maxLength: 3 })],
    ['object', fc.dictionary(fc.string({ maxLength: 8 }), nastyValue, { maxKeys: 3 })],
  ];
  const others = byType.filter(([t]) => !accepts.has(t)).map(([, a]) => a);
  return fc.oneof(...others);
}

interface Case {
  kind: string;
  text: string;
}

/** Bodies that no schema may accept, each with the reason it must be refused. */
function invalidBody(route: BodyRoute): fc.Arbitrary<Case> {
  const root = resolve(route.schema);
  const props = Object.entries(root.properties ?? {});
  const known = props.map(([k]) => k);
  const someKnown = fc
    .subarray(known)
    .chain((keys) => fc.tuple(...keys.map((k) => nastyValue.map((v) => [k, v] as const))).map((kv) => Object.fromEntries(kv)));
  const malformed = fc
    .oneof(
      fc.constantFrom(
        '{',
        '{"a":}',
        "{'single': 1}",
        '{"a":1,}',
        '[1,2',
        'NaN',
        '{"n": NaN}',
        '{"n": Infinity}',
        '\uFEFF{}x',
        '{}{}',
      ),
      fc.constantFrom('[', '{"a":').map((open) => open.repeat(20_000)),
      fc.string({ maxLength: 40 }).filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      }),
    )
    .map((text) => ({ kind: 'malformed JSON', text }));
  const notAnObject = fc
    .oneof(fc.array(nastyValue, { maxLength: 3 }), nastyString, nastyNumber, fc.boolean(), fc.constant(null))
    .map((v) => ({ kind: 'not an object', text: JSON.stringify(v) }));
  const unknownField = fc
    .tuple(someKnown, fc.oneof(sql, traversal, fc.constant('isAdmin')), nastyValue)
    .filter(([, k]) => !known.includes(k))
    .map(([base, k, v]) => ({ kind: `unknown field ${JSON.stringify(k)}`, text: JSON.stringify({ ...base, [k]: v }) }));
  const typed = props.filter(([, s]) => jsonTypes(s).size > 0);
  const wrongType = typed.length
    ? fc.constantFrom(...typed).chain(([k, s]) =>
        fc.tuple(someKnown, valueOfOtherType(jsonTypes(s))).map(([base, v]) => ({
          kind: `wrong type for ${k}`,
          text: JSON.stringify({ ...base, [k]: v }),
        })),
      )
    : null;
  const numericLiteral = typed.some(([, s]) => jsonTypes(s).has('number'))
    ? fc
        .tuple(
          fc.constantFrom(...typed.filter(([, s]) => jsonTypes(s).has('number'))),
          rawNumbers,
          fc.constantFrom(...['zz_unknown']),
        )
        .map(([[k], n, extra]) => ({
          kind: `number literal ${n} for ${k} (plus unknown field)`,
          text: `{"${k}": ${n}, "${extra}": 1}`,
        }))
    : null;
  const tooLarge = fc.constant({ kind: 'body over the limit', text: `{"x":"${'a'.repeat(1024 * 1024 + 10)}"}` });
  return fc.oneof(
    { arbitrary: malformed, weight: 3 },
    { arbitrary: notAnObject, weight: 2 },
    { arbitrary: unknownField, weight: 3 },
    ...(wrongType ? [{ arbitrary: wrongType, weight: 4 }] : []),
    ...(numericLiteral ? [{ arbitrary: numericLiteral, weight: 1 }] : []),
    { arbitrary: tooLarge, weight: 1 },
  );
}

/**
 * plausible: values of the right JSON type, often valid (examples, enum members, bounds), sometimes
 * adversarial, so that requests get past validation into the handlers, where a 5xx would hide.
 */
function plausible(schema: SchemaNode, depth = 0): fc.Arbitrary<Json> {
  const s = resolve(schema);
  const alts = s.anyOf ?? s.oneOf;
  if (alts?.length) return fc.oneof(...alts.map((a) => plausible(a, depth)));
  if (s.enum?.length) return fc.constantFrom(...(s.enum as Json[]));
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  const example = s.example !== undefined ? [fc.constant(s.example as Json)] : [];
  switch (type) {
    case 'string':
      if (s.format === 'date-time') {
        return fc
          .integer({ min: -400, max: 40_000 })
          .map((h) => new Date(Date.now() + h * 3_600_000).toISOString() as Json)
          .chain((v) => fc.oneof(fc.constant(v), nastyString));
      }
      return fc.oneof(...example, ...example, fc.constantFrom('acme', 'acme-ml', 'B200', 'muc1', 'DE'), nastyString);
    case 'integer':
    case 'number': {
      const lo = s.minimum ?? 0;
      const hi = s.maximum ?? 1_000_000;
      // A number's bounds need not be integers (`cpus` from 0.01): integers are drawn within them.
      const intLo = Math.ceil(lo);
      return fc.oneof(
        ...example,
        fc.constantFrom(lo, hi, Math.floor((lo + hi) / 2)),
        fc.integer({ min: intLo, max: Math.max(intLo, Math.min(Math.floor(hi), intLo + 100)) }),
        ...(type === 'number' ? [fc.double({ min: lo, max: Math.min(hi, lo + 100), noNaN: true })] : []),
        nastyNumber,
      );
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return depth > 3 ? fc.constant([]) : fc.array(plausible(s.items ?? {}, depth + 1), { maxLength: 3 });
    case 'object': {
      if (depth > 3) return fc.constant({});
      const props = Object.entries(s.properties ?? {});
      const required = new Set(s.required ?? []);
      const record =
        typeof s.additionalProperties === 'object'
          ? fc.dictionary(fc.constantFrom('A', 'KEY_1', 'team', 'x'), plausible(s.additionalProperties, depth + 1), {
              maxKeys: 2,
            })
          : fc.constant({});
      return fc
        .tuple(
          record,
          ...props.map(([k, p]) =>
            (required.has(k) ? plausible(p, depth + 1) : fc.option(plausible(p, depth + 1), { nil: undefined })).map(
              (v) => [k, v] as const,
            ),
          ),
        )
        .map(
          ([extra, ...kv]) =>
            ({ ...(extra as Record<string, Json>), ...Object.fromEntries(kv.filter(([, v]) => v !== undefined)) }) as Json,
        );
    }
    default:
      return nastyValue;
  }
}

/** A path with its parameters filled by values that exist (so the body, not the id, is what fails). */
function realPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (name === 'org') return 'acme';
    if (name === 'project') return 'acme-ml';
    if (name === 'gpuType') return 'B200';
    if (name === 'name') return 'registry';
    if (name === 'user') return 'u_000000000000';
    if (path.startsWith('/v1/jobs/')) return ids.job!;
    if (path.startsWith('/v1/nodes/')) return ids.node!;
    if (path.startsWith('/v1/orgs/')) return 'acme';
    if (path.startsWith('/v1/projects/')) return 'acme-ml';
    return 'x_000000000000';
  });
}

const nastyParam = fc.oneof(traversal, sql, fc.string({ unit: 'binary', minLength: 1, maxLength: 32 }), fc.constant('0x1'));

async function send(method: string, path: string, text: string, token: string) {
  const r = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: text,
  });
  const raw = await r.text();
  return { status: r.status, type: r.headers.get('content-type') ?? '', requestId: r.headers.get('x-request-id'), raw };
}

function assertRefused(res: Awaited<ReturnType<typeof send>>, what: string) {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected a 4xx, got ${res.status} ${res.raw.slice(0, 300)}`);
  assert.match(res.type, /^application\/problem\+json/, `${what}: content type ${res.type}`);
  const body = JSON.parse(res.raw) as { code?: unknown; detail?: unknown; status?: unknown };
  assert.equal(typeof body.code, 'string', what);
  assert.equal(typeof body.detail, 'string', what);
  assert.equal(body.status, res.status, what);
  assert.ok(res.requestId, `${what}: no X-Request-Id`);
}

/** brief: the first lines of a property failure, each cut short (a counterexample may be a megabyte). */
const brief = (err: unknown) =>
  `${String((err as Error).message)}\n${String(((err as Error).cause as Error | undefined)?.message ?? '')}`
    .split('\n')
    .filter((l) => l && !l.startsWith('Hint'))
    .slice(0, 8)
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l))
    .join('\n');

function rssBytes(): number {
  const pid = Number(readFileSync(join(server.dataDir, 'server.pid'), 'utf8'));
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

test('the OpenAPI document lists the body routes the fuzz covers', () => {
  if (ONLY) return;
  assert.ok(routes.length >= 20, `${routes.length} body routes`);
  for (const r of ['POST /v1/jobs', 'POST /v1/orgs', 'POST /v1/reservations', 'PUT /v1/orgs/{org}/secrets/{name}']) {
    assert.ok(
      routes.some((x) => `${x.method} ${x.path}` === r),
      r,
    );
  }
  // The digest is stable while nobody writes: a change after a refusal is the refusal's doing.
  assertUnchanged(digest(), 'reading');
});

test('every invalid body on every body route is a 4xx problem and changes nothing', async () => {
  const failures: string[] = [];
  for (const route of routes) {
    const path = realPath(route.path);
    try {
      await fc.assert(
        fc.asyncProperty(invalidBody(route), fc.constantFrom('operator', 'admin' as const), async (c, who) => {
          const before = digest();
          const res = await send(route.method, path, c.text, tokens[who as 'operator' | 'admin']);
          assertRefused(res, `${route.method} ${path} (${c.kind}, as ${who})`);
          assertUnchanged(before, `${route.method} ${path} (${c.kind})`);
        }),
        { numRuns: RUNS_PER_ROUTE, endOnFailure: true, ...SEED },
      );
    } catch (err) {
      failures.push(`${route.method} ${route.path}: ${brief(err)}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('adversarial path parameters on every body route are a 4xx problem and change nothing', async () => {
  const failures: string[] = [];
  for (const route of routes.filter((r) => r.path.includes('{'))) {
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(nastyParam, { minLength: 3, maxLength: 3 }),
          fc.constantFrom('{}', '{"reason":"x"}', '{"gpus":1}', '{"value":"x"}'),
          fc.constantFrom('operator', 'admin' as const),
          async (params, text, who) => {
            let i = 0;
            const path = route.path.replace(/\{\w+\}/g, () => encodeURIComponent(params[i++ % params.length]!));
            const before = digest();
            const res = await send(route.method, path, text, tokens[who as 'operator' | 'admin']);
            assertRefused(res, `${route.method} ${path} (${text}, as ${who})`);
            assertUnchanged(before, `${route.method} ${path}`);
          },
        ),
        { numRuns: Math.ceil(RUNS_PER_ROUTE / 2), endOnFailure: true, ...SEED },
      );
    } catch (err) {
      failures.push(`${route.method} ${route.path}: ${brief(err)}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('found by the fuzz: naming a key provider the server lacks is 422, not 503', async () => {
  const res = await send('POST', '/v1/orgs/acme/keys/rotate', '{"provider":"no-such-kms"}', tokens.admin);
  assertRefused(res, 'rotate to an unknown provider');
  assert.equal(res.status, 422);
  assert.match(res.raw, /unknown_key_provider/);
});

test('plausible bodies that reach the handlers never make the server fail (5xx)', async () => {
  // Run last: these may be valid and change the store, which the properties above forbid.
  const failures: string[] = [];
  for (const route of routes) {
    const path = realPath(route.path);
    try {
      await fc.assert(
        fc.asyncProperty(plausible(route.schema), fc.constantFrom('operator', 'admin' as const), async (body, who) => {
          const res = await send(route.method, path, JSON.stringify(body), tokens[who as 'operator' | 'admin']);
          const what = `${route.method} ${path} as ${who}`;
          assert.ok(res.status < 500, `${what}: ${res.status} ${res.raw.slice(0, 300)}`);
          if (res.status >= 400) assertRefused(res, what);
        }),
        { numRuns: RUNS_PER_ROUTE, endOnFailure: true, ...SEED },
      );
    } catch (err) {
      failures.push(`${route.method} ${route.path}: ${brief(err)}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('after the fuzz the server is healthy, still serves requests and its memory stayed bounded', async () => {
  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  // The plausible bodies may have restricted or erased the tenant: the operator's view must still answer.
  const op = api(server.url, tokens.operator);
  assert.equal((await op('GET', '/v1/whoami')).status, 200);
  assert.equal((await op('GET', '/v1/jobs?limit=1000')).status, 200);
  const rss = rssBytes();
  assert.ok(rss > 0 && rss < 768 * 1024 * 1024, `server RSS ${Math.round(rss / 1048576)} MiB`);
});
