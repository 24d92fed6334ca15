/**
 * gigafab login | whoami
 */
import type { Command } from 'commander';
import type { User } from '../../model/schemas.js';
import { type Env, writeConfigFile } from '../config.js';
import { CliError, examples, makeCtx, type Runtime } from '../context.js';
import { renderKeyValues } from '../output.js';

export function renderUser(u: User, url: string): string {
  return renderKeyValues([
    ['User', u.id],
    ['Name', u.name],
    ['Role', u.role],
    ['Org', u.org ?? '-'],
    ['Email', u.email],
    ['Server', url],
  ]);
}

/**
 * envOverrides names the env variables that would shadow the config `login` just saved: env beats the file on
 * every later command, so a stale exported token silently turns the next command into someone else's.
 */
export function envOverrides(env: Env, savedUrl: string, savedToken: string): string[] {
  const out: string[] = [];
  const envUrl = env.GIGAFAB_URL;
  if (envUrl && envUrl.replace(/\/+$/, '') !== savedUrl) out.push('GIGAFAB_URL');
  if (env.GIGAFAB_TOKEN && env.GIGAFAB_TOKEN !== savedToken) out.push('GIGAFAB_TOKEN');
  return out;
}

export function registerAuth(program: Command, rt: Runtime): void {
  program
    .command('login')
    .description('check a server URL + token and save them to the config file')
    .addHelpText(
      'after',
      `${examples(
        'gigafab login --url https://gigafab.example.com --token gf_abc123',
        'GIGAFAB_TOKEN=gf_abc123 gigafab login --url http://127.0.0.1:8080',
      )}
The config file is $GIGAFAB_CONFIG or ~/.config/gigafab/config.json (mode 0600).
Flags (--url/--token) and env (GIGAFAB_URL/GIGAFAB_TOKEN) override it on every command.
`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      if (!ctx.config.token) throw new CliError('login needs a token: gigafab login --url URL --token TOKEN');
      const user = await ctx.client.whoami();
      await writeConfigFile(ctx.config.configPath, { url: ctx.config.url, token: ctx.config.token });
      if (ctx.json) ctx.printJson(user);
      else {
        ctx.out(`logged in to ${ctx.config.url} as ${user.id} (${user.role}${user.org ? ` in ${user.org}` : ''})`);
        ctx.note(`saved to ${ctx.config.configPath}`);
      }
      const shadowed = envOverrides(rt.env, ctx.config.url, ctx.config.token);
      if (shadowed.length > 0) {
        const names = shadowed.join(' and ');
        ctx.note(
          `warning: ${names} ${shadowed.length > 1 ? 'are' : 'is'} set in the environment and ${shadowed.length > 1 ? 'override' : 'overrides'} this login on every command; run \`unset ${shadowed.join(' ')}\` to use the saved config`,
        );
      }
    });

  program
    .command('whoami')
    .description('show the user the current token belongs to')
    .addHelpText('after', examples('gigafab whoami', 'gigafab whoami -o json'))
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const user = await ctx.client.whoami();
      if (ctx.json) ctx.printJson(user);
      else ctx.out(renderUser(user, ctx.config.url));
    });
}
