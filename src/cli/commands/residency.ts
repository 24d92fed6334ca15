/**
 * gigafab residency sites|policy|job|report|ropa and gigafab dataset create|list|show|delete
 */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type ResidencyReportRow, reportCsv } from '../../sovereignty/report-csv.js';
import { CliError, examples, makeCtx, type Runtime } from '../context.js';
import { renderKeyValues, renderTable } from '../output.js';

interface SiteView {
  id: string;
  city: string;
  country: string;
  eu: boolean;
  eea: boolean;
  operator: { name: string; establishment: string } | null;
  attestations: { name: string; validUntil: string; current: boolean }[];
}
interface PolicyView {
  scope: string;
  scopeId: string;
  name: string;
  version: number;
  rules: { countries?: string[]; regions?: string[]; attestations?: string[]; operatorEstablishment?: string[] };
  dataClasses: string[];
  createdAt: string | null;
  createdBy: string | null;
  sitesBefore: string[];
  sitesAfter: string[];
  sitesChanged: boolean;
}
interface Dataset {
  id: string;
  project: string;
  /** Absent for operators without lockbox access (see `redacted`). */
  name?: string;
  classification: string;
  homeSite: string;
  sizeBytes: number;
  checksum?: string;
  createdAt: string;
  hasManifest?: boolean;
  redacted?: string[];
}

/** readManifest reads a manifest (a JSON object of strings) from a file, never from an argument. */
function readManifest(file: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    // The message names the file, never its content.
    throw new CliError(`${file} is not readable JSON (${err instanceof SyntaxError ? 'syntax error' : 'cannot read'})`);
  }
  if (
    !parsed ||
    typeof parsed !== 'object' ||
    Array.isArray(parsed) ||
    Object.values(parsed).some((v) => typeof v !== 'string')
  ) {
    throw new CliError(`${file} must hold a JSON object of strings, e.g. {"uri": "s3://…", "accessKeyId": "…"}`);
  }
  return parsed as Record<string, string>;
}

const withheld = (d: Dataset, v: string | undefined) => v ?? (d.redacted ? '(withheld: needs lockbox access)' : '-');

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function scopePath(opts: { org?: string; project?: string }): string {
  if (!!opts.org === !!opts.project) throw new CliError('give exactly one of --org <org> or --project <project>');
  return opts.org
    ? `/v1/orgs/${encodeURIComponent(opts.org)}/residency-policy`
    : `/v1/projects/${encodeURIComponent(opts.project!)}/residency-policy`;
}

function rulesText(r: PolicyView['rules']): string {
  const parts: string[] = [];
  if (r.countries?.length || r.regions?.length)
    parts.push(`location ${[...(r.countries ?? []), ...(r.regions ?? [])].join('|')}`);
  if (r.operatorEstablishment?.length) parts.push(`operator in ${r.operatorEstablishment.join('|')}`);
  if (r.attestations?.length) parts.push(`attested ${r.attestations.join(' + ')}`);
  return parts.join('; ') || 'no restriction';
}

export function registerResidency(program: Command, rt: Runtime): void {
  const res = program
    .command('residency')
    .description('data residency: site jurisdictions, residency policies, evidence and reports')
    .addHelpText(
      'after',
      examples('gigafab residency sites', 'gigafab residency report --org acme --from 2026-11-01 --to 2026-12-01'),
    );

  res
    .command('sites')
    .description("every site's country, EU/EEA membership, operator and attestations (current or not)")
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: SiteView[] }>('GET', '/v1/residency/sites');
      if (ctx.json) return ctx.printJson(data.items);
      ctx.out(
        renderTable(
          ['SITE', 'CITY', 'COUNTRY', 'EU', 'EEA', 'OPERATOR', 'ATTESTATIONS'],
          data.items.map((s) => [
            s.id,
            s.city,
            s.country,
            s.eu ? 'yes' : 'no',
            s.eea ? 'yes' : 'no',
            s.operator ? `${s.operator.name} (${s.operator.establishment})` : '-',
            s.attestations.map((a) => `${a.name} until ${a.validUntil}${a.current ? '' : ' (not current)'}`).join(', '),
          ]),
        ),
      );
    });

  const policy = res.command('policy').description('versioned residency policies of organisations and projects');
  /** scoped: a policy subcommand; its scope is --org or --project (scopePath says which). */
  const scoped = (name: string, description: string) =>
    policy.command(name).description(description).option('--org <org>', 'organisation').option('--project <project>', 'project');
  scoped('show', 'the policy in force').action(async (opts: { org?: string; project?: string }, cmd: Command) => {
    const ctx = await makeCtx(cmd, rt);
    const { data: p } = await ctx.client.request<PolicyView>('GET', scopePath(opts));
    if (ctx.json) return ctx.printJson(p);
    ctx.out(
      renderKeyValues([
        ['Policy', `${p.name} v${p.version}`],
        ['Scope', `${p.scope} ${p.scopeId}`],
        ['Rules', rulesText(p.rules)],
        ['Data classes', p.dataClasses.join(', ')],
        ['Allowed sites', p.sitesAfter.join(', ') || 'none'],
      ]),
    );
  });
  scoped('set', 'set a new version of the policy (org admin); a project may only be stricter than its organisation')
    .requiredOption('--name <name>', 'policy name, e.g. eu-de-only')
    .option('--countries <list>', 'allowed countries, e.g. DE,AT', list)
    .addOption(new Option('--regions <list>', 'allowed regions: EU, EEA, ADEQUATE').argParser(list))
    .option('--attestations <list>', 'required current attestations, e.g. "BSI C5 Type 2"', list)
    .option('--operator-establishment <list>', "operator's country of establishment, e.g. DE", list)
    .requiredOption('--data-classes <list>', 'data classes processed: public,internal,confidential,personal,health', list)
    .addHelpText(
      'after',
      examples(
        'gigafab residency policy set --org acme --name eu-only --regions EU --data-classes public,internal,personal,health',
        'gigafab residency policy set --project imaging --name de-c5 --countries DE --attestations "BSI C5 Type 2" --data-classes health',
      ),
    )
    .action(
      async (
        opts: {
          org?: string;
          project?: string;
          name: string;
          countries?: string[];
          regions?: string[];
          attestations?: string[];
          operatorEstablishment?: string[];
          dataClasses: string[];
        },
        cmd: Command,
      ) => {
        const ctx = await makeCtx(cmd, rt);
        const rules = {
          ...(opts.countries ? { countries: opts.countries } : {}),
          ...(opts.regions ? { regions: opts.regions } : {}),
          ...(opts.attestations ? { attestations: opts.attestations } : {}),
          ...(opts.operatorEstablishment ? { operatorEstablishment: opts.operatorEstablishment } : {}),
        };
        const { data: p } = await ctx.client.request<PolicyView>('PUT', scopePath(opts), {
          body: { name: opts.name, rules, dataClasses: opts.dataClasses },
        });
        if (ctx.json) return ctx.printJson(p);
        ctx.out(`policy ${p.name} v${p.version} in force for ${p.scope} ${p.scopeId}`);
        if (p.sitesChanged)
          ctx.out(`allowed sites changed: ${p.sitesBefore.join(', ') || 'none'} -> ${p.sitesAfter.join(', ') || 'none'}`);
      },
    );
  scoped('versions', 'every version, newest first, with the allowed sites before and after').action(
    async (opts: { org?: string; project?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: PolicyView[] }>('GET', `${scopePath(opts)}/versions`);
      if (ctx.json) return ctx.printJson(data.items);
      ctx.out(
        renderTable(
          ['VERSION', 'NAME', 'AT', 'BY', 'RULES', 'SITES BEFORE', 'SITES AFTER'],
          data.items.map((p) => [
            p.version,
            p.name,
            p.createdAt,
            p.createdBy,
            rulesText(p.rules),
            p.sitesBefore.join(','),
            `${p.sitesAfter.join(',')}${p.sitesChanged ? ' (moved)' : ''}`,
          ]),
        ),
      );
    },
  );

  res
    .command('job')
    .description("a job's residency: allowed sites, the rule excluding each other site, evidence, flags")
    .argument('<id>', 'job id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{
        evaluation: {
          allowedSites: string[];
          excluded: { site: string; rule: string; reason: string }[];
          waitingReason: string | null;
        };
        placements: { site: { id: string }; at: string }[];
        flags: { at: string; message: string }[];
      }>('GET', `/v1/jobs/${encodeURIComponent(id)}/residency`);
      if (ctx.json) return ctx.printJson(data);
      const ev = data.evaluation;
      ctx.out(
        renderKeyValues([
          ['Allowed sites', ev.allowedSites.join(', ') || 'none now'],
          ['Waiting', ev.waitingReason],
          ['Placements', data.placements.map((p) => `${p.site.id} at ${p.at}`).join('; ') || 'none'],
          ['Flags', data.flags.map((f) => f.message).join('; ') || 'none'],
        ]),
      );
      for (const e of ev.excluded) ctx.out(`  excluded ${e.site}: ${e.reason} [${e.rule}]`);
    });

  res
    .command('report')
    .description('where each job of the organisation ran in a period, under which policies and attestations')
    .requiredOption('--org <org>', 'organisation')
    .requiredOption('--from <date>', 'start of the period (ISO date or date-time, inclusive)')
    .requiredOption('--to <date>', 'end of the period (exclusive)')
    .addOption(new Option('--format <format>', 'table, json or csv').choices(['table', 'json', 'csv']).default('table'))
    .addHelpText(
      'after',
      examples('gigafab residency report --org acme --from 2026-11-01 --to 2026-12-01 --format csv > residency.csv'),
    )
    .action(async (opts: { org: string; from: string; to: string; format: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: ResidencyReportRow[] }>(
        'GET',
        `/v1/orgs/${encodeURIComponent(opts.org)}/residency-report`,
        { query: { from: opts.from, to: opts.to, format: 'json' } },
      );
      if (opts.format === 'csv') return rt.io.out(reportCsv(data.items));
      if (opts.format === 'json' || ctx.json) return ctx.printJson(data);
      if (data.items.length === 0) return ctx.note('no job started in that period');
      for (const it of data.items) ctx.out(it.summary);
    });

  res
    .command('ropa')
    .description("the organisation's record of processing (GDPR Art. 30(2) style), from live state")
    .requiredOption('--org <org>', 'organisation')
    .action(async (opts: { org: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{
        controller: { name: string };
        dataClasses: string[];
        sitesUsed: { id: string; city: string; country: string; eea: boolean; placements: number; datasets: number }[];
        transfersOutsideEea: { site: string; country: string; safeguard: string }[];
        retention: { what: string; period: string }[];
      }>('GET', `/v1/orgs/${encodeURIComponent(opts.org)}/processing-record`);
      if (ctx.json) return ctx.printJson(data);
      ctx.out(
        renderKeyValues([
          ['Controller', data.controller.name],
          ['Data classes', data.dataClasses.join(', ') || 'none declared'],
          [
            'Sites used',
            data.sitesUsed
              .map((s) => `${s.id} (${s.city}, ${s.country}; ${s.placements} placements, ${s.datasets} datasets)`)
              .join('; ') || 'none',
          ],
          [
            'Transfers outside EU/EEA',
            data.transfersOutsideEea.map((t) => `${t.site} (${t.country}): ${t.safeguard}`).join('; ') || 'none',
          ],
          ['Retention', data.retention.map((r) => `${r.what}: ${r.period}`).join('; ')],
        ]),
      );
    });
}

export function registerDataset(program: Command, rt: Runtime): void {
  const ds = program.command('dataset').description('registered datasets: classification, home site, owner project');
  ds.command('create')
    .description('register a dataset')
    .argument('<project>', 'owner project')
    .argument('<name>', 'dataset name')
    .requiredOption('--class <class>', 'public, internal, confidential, personal or health')
    .requiredOption('--home-site <site>', 'site where the data is kept')
    .requiredOption('--size <bytes>', 'size in bytes', (v) => Number(v))
    .requiredOption('--checksum <sha256:hex>', 'content checksum')
    .option(
      '--manifest-file <file>',
      'JSON object of strings (storage URI, access keys): stored encrypted, given to jobs as GIGAFAB_DATASET_<NAME>',
    )
    .addHelpText(
      'after',
      examples(
        'gigafab dataset create imaging scans-2026 --class health --home-site muc1 --size 1e12 --checksum sha256:... --manifest-file scans.json',
      ),
    )
    .action(
      async (
        project: string,
        name: string,
        opts: { class: string; homeSite: string; size: number; checksum: string; manifestFile?: string },
        cmd: Command,
      ) => {
        const ctx = await makeCtx(cmd, rt);
        const manifest = opts.manifestFile ? readManifest(opts.manifestFile) : undefined;
        const { data } = await ctx.client.request<Dataset>('POST', `/v1/projects/${encodeURIComponent(project)}/datasets`, {
          body: {
            name,
            classification: opts.class,
            homeSite: opts.homeSite,
            sizeBytes: opts.size,
            checksum: opts.checksum,
            ...(manifest ? { manifest } : {}),
          },
        });
        if (ctx.json) return ctx.printJson(data);
        ctx.out(`dataset ${data.id} (${data.name}, ${data.classification}) registered at ${data.homeSite}`);
      },
    );
  ds.command('list')
    .alias('ls')
    .description('list datasets')
    .option('--project <project>', 'only this project')
    .action(async (opts: { project?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: Dataset[] }>('GET', '/v1/datasets', {
        query: { project: opts.project },
      });
      if (ctx.json) return ctx.printJson(data.items);
      ctx.out(
        renderTable(
          ['ID', 'PROJECT', 'NAME', 'CLASS', 'HOME', 'BYTES'],
          data.items.map((d) => [d.id, d.project, withheld(d, d.name), d.classification, d.homeSite, d.sizeBytes]),
        ),
      );
    });
  ds.command('show')
    .argument('<id>', 'dataset id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<Dataset>('GET', `/v1/datasets/${encodeURIComponent(id)}`);
      if (ctx.json) return ctx.printJson(data);
      ctx.out(
        renderKeyValues([
          ['ID', data.id],
          ['Project', data.project],
          ['Name', withheld(data, data.name)],
          ['Class', data.classification],
          ['Home site', data.homeSite],
          ['Size', data.sizeBytes],
          ['Checksum', withheld(data, data.checksum)],
          ['Manifest', data.hasManifest ? 'stored encrypted (never shown)' : 'none'],
        ]),
      );
    });
  ds.command('manifest')
    .description("replace a dataset's manifest (a new data key; the old one is shredded)")
    .argument('<id>', 'dataset id')
    .requiredOption('--from-file <file>', 'JSON object of strings')
    .action(async (id: string, opts: { fromFile: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const manifest = readManifest(opts.fromFile);
      const { data } = await ctx.client.request<Dataset>('PATCH', `/v1/datasets/${encodeURIComponent(id)}`, {
        body: { manifest },
      });
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`dataset ${data.id}: manifest replaced (stored encrypted)`);
    });
  ds.command('delete')
    .argument('<id>', 'dataset id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      await ctx.client.request('DELETE', `/v1/datasets/${encodeURIComponent(id)}`);
      ctx.out(`dataset ${id} deleted; its manifest key was crypto-shredded (erasure certificate in the audit log)`);
    });
}
