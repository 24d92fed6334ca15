/**
 * /v1/ssh-keys: the caller's SSH public keys (their profile), which `ssh` sessions they submit
 * authorise. Each user sees and changes only their own; adds and removals are audited.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const SshKeySchema = z
  .object({
    id: z.string().openapi({ example: 'sshk_3f9a2b1c4d5e6f70' }),
    name: z.string().openapi({ description: "The key's comment unless named", example: 'ada@laptop' }),
    type: z.string().openapi({ example: 'ssh-ed25519' }),
    fingerprint: z.string().openapi({ example: 'SHA256:4Oa8c0Rr0n1qgYxk3GgVd0cT9Y1m3nq3B1yQ3f3xk2c' }),
    publicKey: z.string().openapi({ description: '`<type> <base64>`, without the comment' }),
    createdAt: z.string(),
  })
  .openapi('SshKey');

const SshKeyInputSchema = z
  .strictObject({
    publicKey: z.string().min(1).max(8192).openapi({
      description: 'One OpenSSH public key line (the content of an .pub file); no options such as command=',
      example: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBYrBQoJCem2WycYYcfNYT6H7aaIgykGgVLhWFWIMN2 ada@laptop',
    }),
    name: z.string().min(1).max(100).optional().openapi({ description: 'A label (default: the key’s comment)' }),
  })
  .openapi('SshKeyInput');

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
