/**
 * gigafab org create|list|show, and org registries (org-registries.ts)
 */
import { type Command, Option } from 'commander';
import type { Org, OrgKind } from '../../model/schemas.js';
import { examples, fetchList, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { ORG_KIND_CHOICES } from '../enums.js';
import { renderKeyValues, renderTable } from '../output.js';
import { registerOrgExport } from './org-export.js';
import { registerOrgRegistries } from './org-registries.js';

export function registerOrg(program: Command, rt: Runtime): void {
  const org = program
    .command('org')
    .description('organisations (tenants); creating them needs the operator role')
    .addHelpText('after', examples('gigafab org create robotics-gmbh --name "Robotics GmbH" --kind enterprise'));

  org
    .command('create')
    .description('create an organisation')
    .argument('<id>', 'org id: lower-case letters, digits and dashes')
    .requiredOption('--name <name>', 'display name')
    .addOption(new Option('--kind <kind>', 'kind of organisation').choices([...ORG_KIND_CHOICES]).makeOptionMandatory())
    .addHelpText(
      'after',
      examples(
        'gigafab org create robotics-gmbh --name "Robotics GmbH" --kind enterprise',
        'gigafab org create tum-lab --name "TUM Vision Lab" --kind research',
      ),
    )
    .action(async (id: string, opts: { name: string; kind: OrgKind }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const o = await ctx.client.createOrg({ id, name: opts.name, kind: opts.kind });
      if (ctx.json) ctx.printJson(o);
      else ctx.out(`org ${o.id} created`);
    });

  org
    .command('list')
    .alias('ls')
    .description('list organisations you can see')
    .option('--limit <n>', 'page size', parseIntArg(1, 1000))
    .option('--all', 'follow pages until the end')
    .addHelpText('after', examples('gigafab org list', 'gigafab org list --all -o json'))
    .action(async (opts: { limit?: number; all?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items, more } = await fetchList<Org>(ctx.client, opts.all, (cursor) =>
        ctx.client.listOrgs({ limit: opts.limit, cursor }),
      );
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no orgs found');
      else
        ctx.out(
          renderTable(
            ['ID', 'NAME', 'KIND', 'CREATED'],
            items.map((o) => [o.id, o.name, o.kind, o.createdAt]),
          ),
        );
      if (more) ctx.note('(more orgs exist; use --all)');
    });

  org
    .command('show')
    .alias('get')
    .description('show an organisation')
    .argument('<id>', 'org id')
    .addHelpText('after', examples('gigafab org show robotics-gmbh'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const o = await ctx.client.getOrg(id);
      if (ctx.json) ctx.printJson(o);
      else
        ctx.out(
          renderKeyValues([
            ['ID', o.id],
            ['Name', o.name],
            ['Kind', o.kind],
            ['Created', o.createdAt],
          ]),
        );
    });

  registerOrgRegistries(org, rt);
  registerOrgExport(org, rt);
}
