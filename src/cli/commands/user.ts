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
    .addHelpText(
      'after',
      examples(
        'gigafab user create --org robotics-gmbh --name alice --role member --email alice@robotics.example',
        'TOKEN=$(gigafab user create --org robotics-gmbh --name ci --role member -o json | jq -r .token)',
      ),
    )
    .action(async (opts: { org: string; name: string; role: string; email?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const body = opts.email ? { name: opts.name, role: opts.role, email: opts.email } : { name: opts.name, role: opts.role };
      const issued = await ctx.client.createUser(opts.org, body);
      printIssuedToken(ctx, issued, `user ${issued.user.id} created in org ${opts.org} (${issued.user.role})`);
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
            ['ID', 'NAME', 'ROLE', 'EMAIL', 'CREATED'],
            items.map((u) => [u.id, u.name, u.role, u.email, u.createdAt]),
          ),
        );
      if (more) ctx.note('(more users exist; use --all)');
    });
}
