/**
 * Keys and secrets of an organisation, restriction of processing and erasure:
 * /v1/orgs/{org}/secrets, /keys, /restriction, /erasure.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { canAdminOrg, enforce, isOperator } from '../../model/authz.js';
import type { Principal } from '../../model/principal.js';
import type { Lockbox } from '../../server/lockbox/index.js';
import type { KeysServices } from '../../sovereignty/keys/setup.js';
import { json, newRouter } from '../context.js';
import { page } from '../http-schemas.js';
import {
  ErasureCertificateSchema,
  ErasureRequestSchema,
  KeysStatusSchema,
  RestrictionSchema,
  RestrictSchema,
  RotateResultSchema,
  RotateSchema,
  SECRET_NAME,
  SecretCreateSchema,
  SecretMetaSchema,
  SecretPutSchema,
} from '../keys-schemas.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const orgParam = z.string().openapi({ param: { name: 'org', in: 'path' }, example: 'robotics-gmbh' });
// The path name obeys the same rule as a created secret's name: PUT may create one.
const nameParam = z
  .string()
  .regex(SECRET_NAME, 'letters, digits, dots, dashes and underscores, up to 128 characters')
  .openapi({ param: { name: 'name', in: 'path' }, example: 'registry-token' });
const OrgParams = z.object({ org: orgParam });
const SecretParams = z.object({ org: orgParam, name: nameParam });
const body = <T extends z.ZodTypeAny>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

export function keysRoutes({ keys, secrets, restrictions, erasure, tenancy, lockbox }: KeysServices & { lockbox?: Lockbox }) {
  const r = newRouter();
  /** Secret metadata is tenant data: an operator needs an approved read-secret access (lockbox). */
  const lockboxChecked = async (p: Principal, org: string, object: string, requestId: string) => {
    if (!isOperator(p) || !lockbox) return false;
    await lockbox.guard.check({ principal: p, requestId }, org, object, 'read-secret');
    return true;
  };

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/secrets',
      operationId: 'listSecrets',
      tags: ['secrets'],
      summary: "List an organisation's secrets (metadata only; values are never returned)",
      request: { params: OrgParams },
      responses: { 200: json(page(SecretMetaSchema, 'SecretPage'), 'Secrets'), ...commonProblems },
    }),
    async (c) => {
      const p = c.get('principal');
      const org = c.req.valid('param').org;
      const checked = await lockboxChecked(p, org, 'secret:*', c.get('requestId'));
      return c.json({ items: await secrets.list(p, org, checked), nextCursor: null }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org}/secrets',
      operationId: 'createSecret',
      tags: ['secrets'],
      summary: 'Create a secret (org admin); the value is write-only',
      request: { params: OrgParams, body: body(SecretCreateSchema) },
      responses: { 201: json(SecretMetaSchema, 'Created'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => {
      const res = await secrets.put(
        c.get('principal'),
        c.req.valid('param').org,
        c.req.valid('json'),
        'create',
        c.get('requestId'),
      );
      return c.json(res.secret, 201);
    },
  );

  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/orgs/{org}/secrets/{name}',
      operationId: 'setSecret',
      tags: ['secrets'],
      summary: 'Create a secret or replace its value (org admin); the value is write-only',
      request: { params: SecretParams, body: body(SecretPutSchema) },
      responses: { 200: json(SecretMetaSchema, 'Replaced'), 201: json(SecretMetaSchema, 'Created'), ...commonProblems },
    }),
    async (c) => {
      const { org, name } = c.req.valid('param');
      const res = await secrets.put(c.get('principal'), org, { name, ...c.req.valid('json') }, 'upsert', c.get('requestId'));
      return res.created ? c.json(res.secret, 201) : c.json(res.secret, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/secrets/{name}',
      operationId: 'getSecret',
      tags: ['secrets'],
      summary: "Show a secret's metadata",
      request: { params: SecretParams },
      responses: { 200: json(SecretMetaSchema, 'The secret (without its value)'), ...commonProblems },
    }),
    async (c) => {
      const { org, name } = c.req.valid('param');
      const checked = await lockboxChecked(c.get('principal'), org, `secret:${name}`, c.get('requestId'));
      return c.json(await secrets.get(c.get('principal'), org, name, checked), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org}/secrets/{name}',
      operationId: 'deleteSecret',
      tags: ['secrets'],
      summary: 'Delete a secret and shred its data key (org admin)',
      request: { params: SecretParams },
      responses: { 204: { description: 'Deleted' }, ...commonProblems },
    }),
    async (c) => {
      const { org, name } = c.req.valid('param');
      await secrets.remove(c.get('principal'), org, name, c.get('requestId'));
      return c.body(null, 204);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/keys',
      operationId: 'listKeys',
      tags: ['keys'],
      summary: "The organisation's key-encryption keys (versions, provider, state) and the configured providers",
      request: { params: OrgParams },
      responses: { 200: json(KeysStatusSchema, 'Keys'), ...commonProblems },
    }),
    async (c) => {
      const p = c.get('principal');
      const { org } = c.req.valid('param');
      await tenancy.orgs.get(p, org);
      enforce(canAdminOrg(p, org), 'only organisation admins and operators can see key state');
      const keks = await keys.keks(org);
      return c.json({ org, providers: [...keys.providers.keys()], keks: keks as z.infer<typeof KeysStatusSchema>['keks'] }, 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org}/keys/rotate',
      operationId: 'rotateKeys',
      tags: ['keys'],
      summary: 'Rotate the KEK: new version (optionally at another provider), re-wrap all data keys, destroy the old KEK',
      request: { params: OrgParams, body: { content: { 'application/json': { schema: RotateSchema } }, required: false } },
      responses: { 200: json(RotateResultSchema, 'Rotated'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => {
      const p = c.get('principal');
      const { org } = c.req.valid('param');
      await tenancy.orgs.get(p, org);
      enforce(canAdminOrg(p, org), 'only organisation admins and operators can rotate keys');
      const input = (c.req.header('content-length') ?? '0') === '0' ? {} : c.req.valid('json');
      return c.json(await keys.rotate(org, p.userId, input.provider, c.get('requestId')), 200);
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/restriction',
      operationId: 'getRestriction',
      tags: ['data protection'],
      summary: 'Whether processing for the organisation is restricted (GDPR Art. 18)',
      request: { params: OrgParams },
      responses: { 200: json(RestrictionSchema, 'Restriction state'), ...commonProblems },
    }),
    async (c) => c.json(await restrictions.get(c.get('principal'), c.req.valid('param').org), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org}/restriction',
      operationId: 'restrictProcessing',
      tags: ['data protection'],
      summary: 'Restrict processing: refuse new jobs, hold queued ones, stop and requeue running ones',
      request: { params: OrgParams, body: body(RestrictSchema) },
      responses: { 200: json(RestrictionSchema, 'Restricted'), ...commonProblems, ...conflictProblem },
    }),
    async (c) =>
      c.json(
        await restrictions.restrict(c.get('principal'), c.req.valid('param').org, c.req.valid('json').reason, c.get('requestId')),
        200,
      ),
  );

  r.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/orgs/{org}/restriction',
      operationId: 'liftRestriction',
      tags: ['data protection'],
      summary: 'Lift the restriction: held jobs are scheduled again',
      request: { params: OrgParams },
      responses: { 200: json(RestrictionSchema, 'Lifted'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => c.json(await restrictions.lift(c.get('principal'), c.req.valid('param').org, c.get('requestId')), 200),
  );

  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/orgs/{org}/erasure',
      operationId: 'requestErasure',
      tags: ['data protection'],
      summary: 'Erase the organisation (GDPR Art. 17) by crypto-shredding; returns the erasure certificate',
      request: { params: OrgParams, body: body(ErasureRequestSchema) },
      responses: {
        201: json(ErasureCertificateSchema, 'Erased; the certificate is also in the audit chain'),
        ...commonProblems,
        ...conflictProblem,
        ...unprocessableProblem,
      },
    }),
    async (c) =>
      c.json(await erasure.erase(c.get('principal'), c.req.valid('param').org, c.req.valid('json'), c.get('requestId')), 201),
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/erasure',
      operationId: 'getErasure',
      tags: ['data protection'],
      summary: "The organisation's erasure certificate",
      request: { params: OrgParams },
      responses: { 200: json(ErasureCertificateSchema, 'The certificate'), ...commonProblems },
    }),
    async (c) => c.json(await erasure.certificate(c.get('principal'), c.req.valid('param').org), 200),
  );

  return r;
}
