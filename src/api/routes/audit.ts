/** The audit log: list, verify (hash chain + signed checkpoints), export with proofs, public key. */
import { createRoute, z } from '@hono/zod-openapi';
import { forbidden } from '../../model/errors.js';
import { AuditRecordSchema } from '../../model/schemas.js';
import { isOperator, type Principal } from '../../server/principal.js';
import { json, newRouter, type Services } from '../context.js';
import { page } from '../http-schemas.js';
import { commonProblems } from '../problems.js';

const HeadSchema = z.object({ id: z.number(), hash: z.string() });
const CheckpointSchema = z
  .object({
    id: z.number(),
    at: z.string(),
    uptoId: z.number(),
    headHash: z.string(),
    orgHeads: z.record(z.string(), z.tuple([z.number(), z.string()])),
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

/** Operators see the whole log; an organisation admin sees the organisation's slice. */
function scopeOf(p: Principal): string | null {
  if (isOperator(p)) return null;
  if (p.role !== 'admin') throw forbidden('only operators and organisation admins can read the audit log');
  return p.org;
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
const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

export function auditRoutes({ tenancy, audit }: Services) {
  const r = newRouter();

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit',
      tags: ['audit'],
      summary: 'Audit log (operator: all; org admin: own organisation), newest first',
      request: {
        query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), cursor: z.string().optional() }),
      },
      responses: { 200: json(page(AuditRecordSchema, 'AuditPage'), 'Newest first'), ...commonProblems },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await tenancy.listAudit(c.get('principal'), q.limit, q.cursor), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/verify',
      tags: ['audit'],
      summary: 'Verify the hash chain and signed checkpoints; names the first record that does not verify',
      responses: {
        200: json(VerifyReportSchema, 'Verification report (ok: false names the first bad record)'),
        ...commonProblems,
      },
    }),
    async (c) => c.json(await audit.verify(scopeOf(c.get('principal'))), 200),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/public-key',
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
      tags: ['audit'],
      summary: 'Export the audit log (or your organisation slice) with the proofs to verify it independently',
      description:
        'JSON Lines: first line `{"type":"checkpoint", …, "publicKeyPem"}` (the latest signed checkpoint), then one `{"type":"record", …}` per record with its chain hashes. CSV: the records only (columns as in JSON).',
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
      const lines: string[] = [];
      if (format === 'csv') {
        lines.push(CSV_COLUMNS.join(','));
        for await (const rec of audit.records(org)) lines.push(CSV_COLUMNS.map((k) => csvCell(rec[k])).join(','));
        return c.body(`${lines.join('\n')}\n`, 200, { 'content-type': 'text/csv; charset=utf-8' });
      }
      const cp = await audit.latestCheckpoint();
      lines.push(
        JSON.stringify({
          type: 'checkpoint',
          scope: org ?? 'all',
          checkpoint: cp,
          keyId: audit.keyId,
          publicKeyPem: audit.publicKeyPem,
        }),
      );
      for await (const rec of audit.records(org)) lines.push(JSON.stringify({ type: 'record', ...rec }));
      return c.body(`${lines.join('\n')}\n`, 200, { 'content-type': 'application/x-ndjson' });
    },
  );

  return r;
}
