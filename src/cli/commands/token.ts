/**
 * gigafab token generate|create|list|revoke
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { TokenInfo } from '../../model/schemas.js';
import { examples, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { age, renderTable } from '../output.js';
import { printIssuedToken } from './user.js';

export function registerToken(program: Command, rt: Runtime): void {
  const token = program.command('token').description('API tokens');

  token
    .command('generate')
    .description(
      'generate a token here, for onboarding: keep the token, send only its SHA-256 to the operator (who never sees the token itself)',
    )
    .addHelpText(
      'after',
      examples(
        'gigafab token generate                      # future admin: prints the token and its sha256',
        'gigafab user create --org acme --name ada --role admin --token-sha256 <sha256>   # operator',
        'gigafab login --token <token>               # the admin, once onboarded',
      ),
    )
    .action((_opts: unknown, cmd: Command) => {
      // Same shape and entropy (192 bits) as server-issued tokens: the hash is not worth guessing.
      const value = `gf_${randomBytes(24).toString('base64url')}`;
      const sha256 = createHash('sha256').update(value).digest('hex');
      const json = cmd.optsWithGlobals<{ output?: string }>().output === 'json';
      if (json) rt.io.out(`${JSON.stringify({ token: value, sha256 }, null, 2)}\n`);
      else {
        rt.io.out(`token:  ${value}\nsha256: ${sha256}\n`);
        rt.io.err('keep the token secret; give the operator the sha256 line only\n');
      }
    });

  token
    .command('create')
    .description('issue a new API token for a user (yourself, or as an org admin anyone of your organisation); shown only once')
    .argument('<userId>', 'user id')
    .option('--name <name>', 'what the token is for, e.g. ci-pipeline')
    .option('--expires-in-days <n>', "lifetime in days (default and maximum: the server's token policy)", parseIntArg(1, 3650))
    .addHelpText(
      'after',
      examples(
        'gigafab token create u-alice --name laptop',
        'gigafab token create u-alice --expires-in-days 7 -o json | jq -r .token',
      ),
    )
    .action(async (userId: string, opts: { name?: string; expiresInDays?: number }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const issued = await ctx.client.createToken(userId, { name: opts.name, expiresInDays: opts.expiresInDays });
      printIssuedToken(
        ctx,
        issued,
        `new token ${issued.tokenInfo.id} for ${issued.user.id}, expires ${issued.tokenInfo.expiresAt}`,
      );
    });

  token
    .command('list')
    .alias('ls')
    .description("list API tokens, metadata only (yours; an org admin: the organisation's)")
    .option('--user <userId>', "only this user's tokens")
    .addHelpText('after', examples('gigafab token list', 'gigafab token list --user u-alice -o json'))
    .action(async (opts: { user?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items } = await ctx.client.listTokens({ user: opts.user });
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no tokens found');
      else
        ctx.out(
          renderTable(
            ['ID', 'NAME', 'OWNER', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED'],
            items.map((t: TokenInfo) => [
              t.id,
              t.name,
              t.owner,
              t.state,
              t.createdAt,
              t.expiresAt ?? 'never',
              t.lastUsedAt ? `${age(t.lastUsedAt, ctx.now())} ago` : 'never',
            ]),
          ),
        );
    });

  token
    .command('revoke')
    .description("revoke an API token (its owner, or an admin of the owner's organisation); it stops working at once")
    .argument('<tokenId>', 'token id (tok_…), from `gigafab token list`')
    .addHelpText('after', examples('gigafab token revoke tok_3f9a2b1c4d5e6f70'))
    .action(async (tokenId: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const t = await ctx.client.revokeToken(tokenId);
      if (ctx.json) ctx.printJson(t);
      else ctx.out(`token ${t.id} of ${t.owner} revoked at ${t.revokedAt}`);
    });
}
