/** SSH public keys of a user's profile (/v1/ssh-keys): what `ssh` sessions authorise. */
import { z } from '@hono/zod-openapi';

export const SshKeySchema = z
  .object({
    id: z.string().openapi({ example: 'sshk_3f9a2b1c4d5e6f70' }),
    name: z.string().openapi({ description: "The key's comment unless named", example: 'ada@laptop' }),
    type: z.string().openapi({ example: 'ssh-ed25519' }),
    fingerprint: z.string().openapi({ example: 'SHA256:4Oa8c0Rr0n1qgYxk3GgVd0cT9Y1m3nq3B1yQ3f3xk2c' }),
    publicKey: z.string().openapi({ description: '`<type> <base64>`, without the comment' }),
    createdAt: z.string(),
  })
  .openapi('SshKey');

export const SshKeyInputSchema = z
  .strictObject({
    publicKey: z.string().min(1).max(8192).openapi({
      description: 'One OpenSSH public key line (the content of an .pub file); no options such as command=',
      example: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBYrBQoJCem2WycYYcfNYT6H7aaIgykGgVLhWFWIMN2 ada@laptop',
    }),
    name: z.string().min(1).max(100).optional().openapi({ description: 'A label (default: the key’s comment)' }),
  })
  .openapi('SshKeyInput');
export type SshKey = z.infer<typeof SshKeySchema>;
export type SshKeyInput = z.infer<typeof SshKeyInputSchema>;
