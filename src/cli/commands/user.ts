/**
 * gigafab user create|list
 */
import { type Command, Option } from 'commander';
import type { User } from '../../model/schemas.js';
import type { IssuedToken } from '../client.js';
import { type Ctx, examples, fetchList, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { ORG_ROLE_CHOICES } from '../enums.js';
import { renderTable } from '../output.js';

/** printIssuedToken shows a fresh token (json: the whole {token, user}) with the shown-once note. */
export function printIssuedToken(ctx: Ctx, issued: IssuedToken, headline: string): void {
  if (ctx.json) {
    ctx.printJson(issued);
    return;
  }
  ctx.out(headline);
  if (!issued.token) {
    ctx.note(
      `no token is shown: ${issued.user.id} holds the token it generated (${issued.tokenInfo.id}) and logs in with \`gigafab login --token ...\``,
    );
    return;
  }
  ctx.out(`token: ${issued.token}`);
  ctx.note('note: this token is shown only once; store it now (e.g. gigafab login --token ...).');
}

export function registerUser(program: Command, rt: Runtime): void {
  const user = program
    .command('user')
    .description('users of an organisation')
    .addHelpText('after', examples('gigafab user create --org robotics-gmbh --name alice --role member'));

  user
    .command('create')
    .description('create a user and print their first API token (shown only once)')
    .requiredOption('--org <org>', 'organisation')
    .requiredOption('--name <name>', 'user name')
    .addOption(new Option('--role <role>', 'role in the organisation').choices([...ORG_ROLE_CHOICES]).makeOptionMandatory())
    .option('--email <email>', 'e-mail address')
    .option(
      '--token-sha256 <hex>',
      "operators onboarding an organisation's first admin: the sha256 from the admin's `gigafab token generate`",
    )
    .addHelpText(
      'after',
      examples(
        'gigafab user create --org robotics-gmbh --name alice --role member --email alice@robotics.example',
        'TOKEN=$(gigafab user create --org robotics-gmbh --name ci --role member -o json | jq -r .token)',
      ),
    )
    .action(async (opts: { org: string; name: string; role: string; email?: string; tokenSha256?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const body = {
        name: opts.name,
        role: opts.role,
        ...(opts.email ? { email: opts.email } : {}),
        ...(opts.tokenSha256 ? { tokenSha256: opts.tokenSha256 } : {}),
      };
      const issued = await ctx.client.createUser(opts.org, body);
      printIssuedToken(ctx, issued, `user ${issued.user.id} created in org ${opts.org} (${issued.user.role})`);
    });

  user
    .command('disable')
    .description(
      'disable a user and revoke all its tokens (org admin; an operator for a compromised account: the tenant is told)',
    )
    .argument('<userId>', 'user id')
    .requiredOption('--reason <text>', 'why; recorded in the audit log (and, for operators, in the notice to the tenant)')
    .addHelpText('after', examples('gigafab user disable u-3f9a2b1c4d5e --reason "laptop stolen"'))
    .action(async (userId: string, opts: { reason: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const u = await ctx.client.disableUser(userId, opts.reason);
      if (ctx.json) ctx.printJson(u);
      else ctx.out(`user ${u.id} disabled at ${u.disabledAt}; its tokens are revoked`);
    });

  user
    .command('enable')
    .description('enable a disabled user again (org admin); issue it a new token: the old ones stay revoked')
    .argument('<userId>', 'user id')
    .action(async (userId: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const u = await ctx.client.enableUser(userId);
      if (ctx.json) ctx.printJson(u);
      else ctx.out(`user ${u.id} enabled; issue a token with \`gigafab token create ${u.id}\``);
    });

  user
    .command('list')
    .alias('ls')
    .description('list the users of an organisation')
    .requiredOption('--org <org>', 'organisation')
    .option('--limit <n>', 'page size', parseIntArg(1, 1000))
    .option('--all', 'follow pages until the end')
    .addHelpText('after', examples('gigafab user list --org robotics-gmbh'))
    .action(async (opts: { org: string; limit?: number; all?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items, more } = await fetchList<User>(ctx.client, opts.all, (cursor) =>
        ctx.client.listUsers(opts.org, { limit: opts.limit, cursor }),
      );
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no users found');
      else
        ctx.out(
          renderTable(
            ['ID', 'NAME', 'ROLE', 'EMAIL', 'CREATED', 'CREATED BY', 'DISABLED'],
            items.map((u) => [u.id, u.name, u.role, u.email, u.createdAt, u.createdBy, u.disabledAt]),
          ),
        );
      if (more) ctx.note('(more users exist; use --all)');
    });
}
