/**
 * /v1/ssh-keys: the caller's SSH public keys (their profile), which `ssh` sessions they submit
 * authorise. Each user sees and changes only their own; adds and removals are audited.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { SshKeyInputSchema, SshKeySchema } from '../../model/ssh-key-schemas.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

export function sshKeyRoutes({ tenancy }: Services) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/ssh-keys',
      operationId: 'listSshKeys',
      tags: ['tenancy'],
      summary: 'Your SSH public keys (what your `ssh` sessions authorise)',
      responses: { 200: json(z.object({ items: z.array(SshKeySchema) }), 'Your keys, oldest first'), ...commonProblems },
    }),
    async (c) => c.json({ items: await tenancy.sshKeys.list(requestContext(c)) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/ssh-keys',
      operationId: 'addSshKey',
      tags: ['tenancy'],
      summary: 'Add an SSH public key to your profile (audited); sessions started from now on authorise it',
      request: { body: { content: { 'application/json': { schema: SshKeyInputSchema } }, required: true } },
      responses: {
        201: json(SshKeySchema, 'Added'),
        ...commonProblems,
        ...conflictProblem,
        ...unprocessableProblem,
      },
    }),
    async (c) => c.json(await tenancy.sshKeys.add(requestContext(c), c.req.valid('json')), 201),
  );
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/ssh-keys/{id}',
      operationId: 'removeSshKey',
      tags: ['tenancy'],
      summary:
        'Remove one of your SSH keys (by id or SHA256 fingerprint; audited). Running sessions keep the keys they started with',
      request: {
        params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'sshk_3f9a2b1c4d5e6f70' }) }),
      },
      responses: { 200: json(SshKeySchema, 'Removed'), ...commonProblems },
    }),
    async (c) => c.json(await tenancy.sshKeys.remove(requestContext(c), c.req.valid('param').id), 200),
  );
  return r;
}
