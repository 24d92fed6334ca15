/** The audit log: list, verify (hash chain + signed checkpoints), export with proofs, public key. */
import { createRoute, z } from '@hono/zod-openapi';
import { canReadAudit, enforce } from '../../model/authz.js';
import { toCsv } from '../../model/csv.js';
import { invalid } from '../../model/errors.js';
import type { Principal } from '../../model/principal.js';
import { AuditRecordSchema } from '../../model/schemas.js';
import { forOperator } from '../../server/audit/index.js';
import type { ChainRecord } from '../../store/audit-chain.js';
import { json, newRouter, type Services } from '../context.js';
import { page } from '../http-schemas.js';
import { commonProblems } from '../problems.js';

const HeadSchema = z
  .object({ id: z.number().openapi({ description: 'record id' }), hash: z.string().openapi({ description: 'its chain hash' }) })
  .openapi('AuditHead');
const CheckpointSchema = z
  .object({
    id: z.number(),
    version: z.union([z.literal(1), z.literal(2)]).openapi({ description: '2: chained (seq, prevHash, fromId)' }),
    seq: z.number().nullable(),
    prevHash: z.string().nullable().openapi({ description: "sha256 of the previous checkpoint's signed text" }),
    fromId: z.number().nullable().openapi({ description: 'first record covered' }),
    at: z.string(),
    uptoId: z.number(),
    headHash: z.string(),
    orgHeads: z
      .record(z.string(), z.tuple([z.number(), z.string()]))
      .openapi({ description: 'pinned organisation heads (a tenant sees only its own)' }),
    orgCommitments: z
      .array(z.string())
      .openapi({ description: 'sha256 of JSON [org, id, hash] for every pinned organisation head: what was signed' }),
    signature: z.string(),
    keyId: z.string(),
  })
  .openapi('AuditCheckpoint');
export const VerifyReportSchema = z
  .object({
    ok: z.boolean(),
    scope: z.string(),
    checked: z.number(),
    head: HeadSchema.nullable(),
    problem: z.object({ recordId: z.number(), reason: z.string() }).nullable(),
    checkpoint: CheckpointSchema.nullable(),
    keyId: z.string(),
  })
  .openapi('AuditVerifyReport');

const SinceQuery = z.object({
  sinceId: z.coerce.number().int().min(1).optional().openapi({ description: 'id of the head you kept' }),
  sinceHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional()
    .openapi({ description: 'its hash (the organisation chain hash for an organisation scope)' }),
});

/** The held head from the query, both parts or neither. */
function heldHead(q: { sinceId?: number; sinceHash?: string }): { id: number; hash: string } | null {
  if (q.sinceId === undefined && q.sinceHash === undefined) return null;
  if (q.sinceId === undefined || q.sinceHash === undefined)
    throw invalid('invalid_head', 'a held head needs both sinceId and sinceHash');
  return { id: q.sinceId, hash: q.sinceHash };
}

/** Operators see the whole log; an organisation admin sees the organisation's slice. */
function scopeOf(p: Principal): string | null {
  const d = canReadAudit(p);
  enforce(d, 'only operators and organisation admins can read the audit log');
  return d.allowed && d.reason === 'operator' ? null : p.org;
}

const CSV_COLUMNS = [
  'id',
  'at',
  'actor',
  'org',
  'action',
  'objectType',
  'objectId',
  'before',
  'after',
  'requestId',
  'prevHash',
  'hash',
  'orgPrevHash',
  'orgHash',
] as const;
export function auditRoutes({ audit }: Services) {
  const r = newRouter();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit',
      operationId: 'listAuditRecords',
      tags: ['audit'],
      summary: 'Audit log (operator: all; org admin: own organisation), newest first',
      request: {
        query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), cursor: z.string().optional() }),
      },
      responses: { 200: json(page(AuditRecordSchema, 'AuditPage'), 'Newest first'), ...commonProblems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await audit.list(c.get('principal'), q.limit, q.cursor), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/verify',
      operationId: 'verifyAudit',
      tags: ['audit'],
      summary: 'Verify the hash chain and signed checkpoints; names the first record that does not verify',
      description:
        'Checks every record, every checkpoint signature and the checkpoint chain. Keep the returned `head`: given back as `sinceId`/`sinceHash`, a later verify also proves the log still contains it and extends it — which catches the removal of the newest records together with their checkpoints.',
      request: { query: SinceQuery },
      responses: {
        200: json(VerifyReportSchema, 'Verification report (ok: false names the first bad record)'),
        ...commonProblems,
      },
    }),
    async (c) => {
      const since = heldHead(c.req.valid('query'));
      return c.json(await audit.verify(scopeOf(c.get('principal')), since), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/head',
      operationId: 'getAuditHead',
      tags: ['audit'],
      summary: 'The current head of your chain (operator: whole log; org admin: the organisation) and the checkpoint pinning it',
      responses: {
        200: json(
          z.object({
            scope: z.string(),
            head: HeadSchema.nullable(),
            checkpoint: CheckpointSchema.nullable(),
            keyId: z.string(),
          }),
          'Head (unverified: keep it and pass it to a later verify)',
        ),
        ...commonProblems,
      },
    }),
    async (c) => {
      const org = scopeOf(c.get('principal'));
      const [head, checkpoint] = await Promise.all([audit.head(org), audit.latestCheckpoint(org)]);
      return c.json({ scope: org ?? 'all', head, checkpoint, keyId: audit.keyId }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/public-key',
      operationId: 'getAuditPublicKey',
      tags: ['audit'],
      summary: 'The Ed25519 public key that signs audit checkpoints',
      responses: { 200: json(z.object({ keyId: z.string(), publicKeyPem: z.string() }), 'Public key'), ...commonProblems },
    }),
    (c) => c.json({ keyId: audit.keyId, publicKeyPem: audit.publicKeyPem }, 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/export',
      operationId: 'exportAudit',
      tags: ['audit'],
      summary: 'Export the audit log (or your organisation slice) with the proofs to verify it independently',
      description:
        'JSON Lines: first line `{"type":"checkpoint", …, "head", "publicKeyPem"}` (the latest signed checkpoint pinning your scope; other organisations appear only as opaque commitments), then one `{"type":"record", …}` per record with its chain hashes. CSV: the records only (columns as in JSON).',
      request: { query: z.object({ format: z.enum(['jsonl', 'csv']).default('jsonl') }) },
      responses: {
        200: {
          description: 'The export',
          content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } },
        },
        ...commonProblems,
      },
    }),
    async (c) => {
      const org = scopeOf(c.get('principal'));
      const { format } = c.req.valid('query');
      // Operators get tenant records without tenant-written content (server/audit/privacy.ts).
      const operators = org === null ? await audit.operatorIds() : null;
      const records = async function* () {
        for await (const rec of audit.records(org)) yield operators ? forOperator(rec, operators) : rec;
      };
      const lines: string[] = [];
      if (format === 'csv') {
        const rows: ChainRecord[] = [];
        for await (const rec of records()) rows.push(rec);
        return c.body(toCsv(CSV_COLUMNS, rows), 200, { 'content-type': 'text/csv; charset=utf-8' });
      }
      const cp = await audit.latestCheckpoint(org);
      let head: { id: number; hash: string } | null = null;
      for await (const rec of records()) {
        lines.push(JSON.stringify({ type: 'record', ...rec }));
        head = { id: rec.id, hash: (org ? rec.orgHash : rec.hash) ?? '' };
      }
      // The head of the exported chain (unverified until `audit verify --file` checks it): keep it.
      lines.unshift(
        JSON.stringify({
          type: 'checkpoint',
          scope: org ?? 'all',
          checkpoint: cp,
          head,
          keyId: audit.keyId,
          publicKeyPem: audit.publicKeyPem,
        }),
      );
      return c.body(`${lines.join('\n')}\n`, 200, { 'content-type': 'application/x-ndjson' });
    },
  );

  return r;
}
