/**
 * gigafab org registries set|show: the registries an organisation's job images may come from
 * (PUT/GET /v1/orgs/{org}/registries); `set <org>` with no hosts lifts the restriction.
 */
import type { Command } from 'commander';
import type { OrgRegistries } from '../../model/registries.js';
import { examples, makeCtx, type Runtime } from '../context.js';

function render(r: OrgRegistries): string {
  return r.registries.length === 0
    ? `org ${r.org}: no registry restriction of its own (the sites' lists still apply)`
    : `org ${r.org} pulls images only from: ${r.registries.join(', ')}`;
}

export function registerOrgRegistries(org: Command, rt: Runtime): void {
  const registries = org
    .command('registries')
    .description("the registries the organisation's job images may come from (sites' lists apply too)")
    .addHelpText(
      'after',
      examples(
        "gigafab org registries set robotics-gmbh registry.eu.example '*.corp.example'",
        'gigafab org registries show robotics-gmbh',
      ),
    );

  registries
    .command('set')
    .description('replace the allow-list (organisation admins, operators); no hosts: no restriction')
    .argument('<org>', 'organisation id')
    .argument('[hosts...]', 'registry hosts (optionally :port), or *.domain for its subdomains')
    .action(async (id: string, hosts: string[], _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<OrgRegistries>('PUT', `/v1/orgs/${encodeURIComponent(id)}/registries`, {
        body: { registries: hosts },
      });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(render(data));
    });

  registries
    .command('show')
    .description("the organisation's allow-list")
    .argument('<org>', 'organisation id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<OrgRegistries>('GET', `/v1/orgs/${encodeURIComponent(id)}/registries`);
      if (ctx.json) ctx.printJson(data);
      else ctx.out(render(data));
    });
}
