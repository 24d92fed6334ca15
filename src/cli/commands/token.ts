/**
 * gigafab token create
 */
import type { Command } from 'commander';
import { examples, makeCtx, type Runtime } from '../context.js';
import { printIssuedToken } from './user.js';

export function registerToken(program: Command, rt: Runtime): void {
  const token = program.command('token').description('API tokens');

  token
    .command('create')
    .description('issue a new API token for a user (shown only once)')
    .argument('<userId>', 'user id')
    .addHelpText('after', examples('gigafab token create u-alice', 'gigafab token create u-alice -o json | jq -r .token'))
    .action(async (userId: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const issued = await ctx.client.createToken(userId);
      printIssuedToken(ctx, issued, `new token for ${issued.user.id}`);
    });
}
