/**
 * gigafab org export|verify-archive: an organisation's complete portable archive (EU Data Act),
 * read through the public API as one of its admins, and its offline verification (org-archive.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Job, JobEvent, Project, User } from '../../model/schemas.js';
import { type OrgArchiveSection, verifyOrgArchive, writeOrgArchive } from '../../server/tenancy/org-archive.js';
import { CliError, ExitCode, examples, globalOptions, makeCtx, type Runtime } from '../context.js';

/** Exit code of a verify-archive that fails (as `gigafab audit verify`). */
const EXIT_ARCHIVE_BAD = 4;

/** A dataset as the API shows it (its manifest fields included for the organisation's admins). */
interface Dataset {
  id: string;
}

export function registerOrgExport(org: Command, rt: Runtime): void {
  org
    .command('export')
    .description("write the organisation's complete archive (JSON Lines; run as one of its admins)")
    .argument('<org>', 'organisation id')
    .option('--file <file>', 'write the archive here (default: standard output)')
    .addHelpText(
      'after',
      examples(
        'gigafab org export robotics-gmbh --file robotics-gmbh.gfa.jsonl',
        'gigafab org verify-archive robotics-gmbh.gfa.jsonl',
      ),
    )
    .action(async (id: string, opts: { file?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const me = await ctx.client.whoami();
      if (me.role === 'operator')
        throw new CliError(
          `the export is the organisation's own: run it as an admin of ${id}; operators read tenant data only through the lockbox, route by route`,
        );
      if (me.org !== id || me.role !== 'admin')
        throw new CliError(`only an admin of ${id} can export it (you are ${me.role} of ${me.org})`);
      const c = ctx.client;
      const say = (line: string) => ctx.note(line);
      const orgRow = await c.getOrg(id);
      const all = async <T>(path: string, query: Record<string, string> = {}) => {
        const items: T[] = [];
        for await (const item of c.paginate<T>(
          async (cursor) =>
            (
              await c.request<{ items: T[]; nextCursor?: string | null }>('GET', path, {
                query: { ...query, limit: '500', ...(cursor ? { cursor } : {}) },
              })
            ).data as { items: T[]; nextCursor: string | null },
        ))
          items.push(item);
        return items;
      };
      const projects = (await all<Project>('/v1/projects')).filter((p) => p.org === id);
      const users = await all<User>(`/v1/orgs/${encodeURIComponent(id)}/users`);
      const jobList = (await all<Job>('/v1/jobs')).filter((j) => j.org === id).sort((a, b) => a.id.localeCompare(b.id));
      const jobs: { job: Job; events: JobEvent[] }[] = [];
      for (const job of jobList) {
        jobs.push({ job, events: await c.jobEvents(job.id) });
        if (jobs.length % 100 === 0) say(`jobs: ${jobs.length} of ${jobList.length}`);
      }
      say(`jobs: ${jobs.length} with their events`);
      const datasets: Dataset[] = [];
      for (const d of await all<Dataset>('/v1/datasets'))
        datasets.push((await c.request<Dataset>('GET', `/v1/datasets/${encodeURIComponent(d.id)}`)).data);
      const now = new Date(ctx.now());
      const from = orgRow.createdAt;
      const to = new Date(now.getTime() + 86_400_000).toISOString().slice(0, 10);
      const usage = (
        await c.request<{ items: unknown[] }>('GET', '/v1/usage', {
          query: { from, to, org: id, groupBy: 'project,gpuType,site,class,day' },
        })
      ).data.items;
      const residency = (
        await c.request<{ items: unknown[] }>('GET', `/v1/orgs/${encodeURIComponent(id)}/residency-report`, {
          query: { from: from.slice(0, 10), to },
        })
      ).data.items;
      // Records an earlier import brought (the old provider's metering and evidence), with their origin.
      const imported = async (section: 'usage' | 'residency') =>
        (
          await c.request<{ items: unknown[] }>('GET', `/v1/orgs/${encodeURIComponent(id)}/imported-records`, {
            query: { section },
          })
        ).data.items;
      usage.push(...(await imported('usage')));
      residency.push(...(await imported('residency')));
      const processing = (await c.request<unknown>('GET', `/v1/orgs/${encodeURIComponent(id)}/processing-record`)).data;
      const auditLines = (await c.exportAudit('jsonl')).split('\n').filter((l) => l.trim() !== '');
      say(`audit: ${auditLines.length - 1} records of the organisation's chain`);
      const sections: Record<OrgArchiveSection, readonly unknown[]> = {
        org: [orgRow],
        projects,
        // Users as the API shows them: no token, no token hash (GET …/users never returns either).
        users,
        jobs,
        datasets,
        usage,
        residency,
        'processing-record': [processing],
        audit: auditLines.map((l) => JSON.parse(l) as unknown),
      };
      const text = writeOrgArchive(
        { org: id, exportedAt: now.toISOString(), exportedBy: me.id, source: ctx.config.url },
        sections,
      );
      if (opts.file) {
        await writeFile(opts.file, text, { mode: 0o600 });
        ctx.note(`archive of ${id} written to ${opts.file} (${Buffer.byteLength(text)} bytes)`);
      } else rt.io.out(text);
    });

  org
    .command('import')
    .description("import an organisation from another installation's archive (operators; verified first)")
    .argument('<file>', 'an archive written by `gigafab org export`')
    .option('--key-id <id>', "the key id the archive's audit slice must be signed with (published by the old operator)")
    .option('--admin-user <id>', 'an imported admin who gets a token at once (with --admin-token-sha256)')
    .option('--admin-token-sha256 <hash>', "SHA-256 of that admin's new token (`gigafab token generate` on the admin's side)")
    .addHelpText(
      'after',
      examples(
        'gigafab org import robotics-gmbh.gfa.jsonl --key-id 5c1e0a9b3d2f4e61',
        'gigafab org import robotics-gmbh.gfa.jsonl --admin-user u_3f9a… --admin-token-sha256 9d2c…',
      ),
    )
    .action(async (file: string, opts: { keyId?: string; adminUser?: string; adminTokenSha256?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      let archive: string;
      try {
        archive = await readFile(file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const { data } = await ctx.client.request<{
        org: string;
        importId: number;
        projects: number;
        users: number;
        jobs: { imported: number; stoppedAtImport: number; ids: Record<string, string> };
        quotasSkipped: string[];
        datasetsNotImported: number;
        datasets: { imported: number; awaitingManifest: string[]; skipped: string[] };
        kept: { usage: number; residency: number };
      }>('POST', '/v1/orgs/import', { body: { archive, ...opts } });
      if (ctx.json) return ctx.printJson(data);
      ctx.out(
        `organisation ${data.org} imported (import ${data.importId}): ${data.projects} projects, ${data.users} users, ${data.jobs.imported} jobs as history (${data.jobs.stoppedAtImport} queued or running at the export: cancelled, not run here)`,
      );
      if (data.quotasSkipped.length > 0)
        ctx.note(`quotas not imported (no such GPU type here): ${data.quotasSkipped.join(', ')}`);
      ctx.out(
        `${data.datasets.imported} datasets registered, ${data.kept.usage} usage and ${data.kept.residency} residency records kept from the old installation (never billed here)`,
      );
      if (data.datasets.awaitingManifest.length > 0)
        ctx.note(
          `set the manifest of ${data.datasets.awaitingManifest.join(', ')} again from your own copy (PATCH /v1/datasets/{id} with "manifest"): archives never hold manifests`,
        );
      if (data.datasets.skipped.length > 0) ctx.note(`datasets not imported: ${data.datasets.skipped.join('; ')}`);
    });

  org
    .command('verify-archive')
    .description('verify an organisation archive offline: section checksums and the signed audit slice')
    .argument('<file>', 'an archive written by `gigafab org export`')
    .option('--key-id <id>', 'the signing key id you expect (published by the operator)')
    .addHelpText('after', examples('gigafab org verify-archive robotics-gmbh.gfa.jsonl --key-id 5c1e0a…'))
    .action(async (file: string, opts: { keyId?: string }, cmd: Command) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const report = verifyOrgArchive(text, opts.keyId);
      if (globalOptions(cmd).output === 'json') rt.io.out(`${JSON.stringify(report, null, 2)}\n`);
      else rt.io.out(`${report.ok ? 'OK' : 'FAILED'}: ${report.message}\n`);
      if (!report.ok) throw new ExitCode(EXIT_ARCHIVE_BAD);
    });
}
