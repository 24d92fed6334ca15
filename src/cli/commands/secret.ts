/**
 * gigafab secret set|list|show|delete, gigafab keys show|rotate, gigafab org-restriction set|lift|show,
 * gigafab org-erasure run|show. A secret's value is read from a file, an environment variable or
 * stdin, never from the command line (where `ps` and shell history would see it).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ErasureCertificateBody, KeysStatus, Restriction, RotateResult, SecretMeta } from '../../api/keys-schemas.js';
import type { User } from '../../model/schemas.js';
import type { Page } from '../client.js';
import { CliError, type Ctx, examples, makeCtx, type Runtime } from '../context.js';
import { renderKeyValues, renderTable } from '../output.js';

/** The organisation to act on: --org, else the caller's own. */
async function orgOf(ctx: Ctx, org: string | undefined): Promise<string> {
  if (org) return org;
  const me = (await ctx.client.request<User>('GET', '/v1/whoami')).data;
  if (!me.org) throw new CliError('operators belong to no organisation: pass --org <org>');
  return me.org;
}

const path = (org: string, rest = '') => `/v1/orgs/${encodeURIComponent(org)}${rest}`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}

async function secretValue(opts: { fromFile?: string; fromEnv?: string }, rt: Runtime): Promise<string> {
  if (opts.fromFile && opts.fromEnv) throw new CliError('give either --from-file or --from-env, not both');
  let value: string;
  if (opts.fromEnv) {
    const v = rt.env[opts.fromEnv];
    if (v === undefined) throw new CliError(`environment variable ${opts.fromEnv} is not set`);
    value = v;
  } else if (opts.fromFile) {
    value = opts.fromFile === '-' ? await readStdin() : await readFile(opts.fromFile, 'utf8');
  } else {
    if (process.stdin.isTTY) throw new CliError('pass the value with --from-file <path>, --from-env <VAR>, or on stdin');
    value = await readStdin();
  }
  // A trailing newline from `echo` or an editor is not part of the secret.
  value = value.replace(/\r?\n$/, '');
  if (value.length === 0) throw new CliError('the secret value is empty');
  return value;
}

export function registerSecret(program: Command, rt: Runtime): void {
  const secret = program
    .command('secret')
    .description("an organisation's secrets (registry credentials, access keys, env secrets for jobs); values are write-only")
    .addHelpText(
      'after',
      examples(
        'gigafab secret set registry-token --from-env REGISTRY_TOKEN',
        'printf %s "$TOKEN" | gigafab secret set hf-token',
        'gigafab secret list',
        '# in a job file:  secretEnv: { HF_TOKEN: hf-token }',
      ),
    );

  secret
    .command('set')
    .description('create a secret or replace its value (org admins)')
    .argument('<name>', 'secret name')
    .option('--org <org>', 'organisation (default: yours)')
    .option('--from-file <path>', 'read the value from a file (- for stdin)')
    .option('--from-env <VAR>', 'read the value from an environment variable')
    .option('--description <text>', 'what the secret is for')
    .addHelpText('after', examples('gigafab secret set registry-token --from-env REGISTRY_TOKEN'))
    .action(
      async (name: string, opts: { org?: string; fromFile?: string; fromEnv?: string; description?: string }, cmd: Command) => {
        const ctx = await makeCtx(cmd, rt);
        const org = await orgOf(ctx, opts.org);
        const value = await secretValue(opts, rt);
        const res = await ctx.client.request<SecretMeta>('PUT', path(org, `/secrets/${encodeURIComponent(name)}`), {
          body: { value, ...(opts.description ? { description: opts.description } : {}) },
        });
        if (ctx.json) ctx.printJson(res.data);
        else ctx.out(`secret ${name} ${res.status === 201 ? 'created' : 'updated'} (version ${res.data.version}) in ${org}`);
      },
    );

  secret
    .command('list')
    .alias('ls')
    .description("list an organisation's secrets (metadata only)")
    .option('--org <org>', 'organisation (default: yours)')
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const org = await orgOf(ctx, opts.org);
      const { items } = (await ctx.client.request<Page<SecretMeta>>('GET', path(org, '/secrets'))).data;
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note(`organisation ${org} has no secrets`);
      else
        ctx.out(
          renderTable(
            ['NAME', 'VERSION', 'UPDATED', 'UPDATED BY', 'DESCRIPTION'],
            items.map((s) => [s.name, String(s.version), s.updatedAt, s.updatedBy, s.description ?? '']),
          ),
        );
    });

  secret
    .command('delete')
    .alias('rm')
    .description('delete a secret; its data key is shredded (org admins)')
    .argument('<name>', 'secret name')
    .option('--org <org>', 'organisation (default: yours)')
    .action(async (name: string, opts: { org?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const org = await orgOf(ctx, opts.org);
      await ctx.client.request('DELETE', path(org, `/secrets/${encodeURIComponent(name)}`));
      if (ctx.json) ctx.printJson({ deleted: name });
      else ctx.out(`secret ${name} deleted; its data key was shredded`);
    });

  const keys = program
    .command('keys')
    .description("an organisation's key-encryption keys")
    .addHelpText('after', examples('gigafab keys show', 'gigafab keys rotate', 'gigafab keys rotate --provider customer-kms'));

  keys
    .command('show')
    .description('show KEK versions, their provider and state')
    .option('--org <org>', 'organisation (default: yours)')
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const org = await orgOf(ctx, opts.org);
      const k = (await ctx.client.request<KeysStatus>('GET', path(org, '/keys'))).data;
      if (ctx.json) ctx.printJson(k);
      else {
        ctx.out(`providers: ${k.providers.join(', ')}`);
        if (k.keks.length === 0) ctx.note(`organisation ${org} has no key yet (made with its first secret)`);
        else
          ctx.out(
            renderTable(
              ['VERSION', 'PROVIDER', 'KEY ID', 'STATE', 'CREATED'],
              k.keks.map((x) => [String(x.version), `${x.provider} (${x.providerKind})`, x.keyId, x.state, x.createdAt]),
            ),
          );
      }
    });

  keys
    .command('rotate')
    .description('rotate the KEK: new version, re-wrap every data key, destroy the old KEK (no downtime)')
    .option('--org <org>', 'organisation (default: yours)')
    .option('--provider <name>', 'move the KEK to this configured provider (customer-managed KMS)')
    .action(async (opts: { org?: string; provider?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const org = await orgOf(ctx, opts.org);
      const r = (
        await ctx.client.request<RotateResult>('POST', path(org, '/keys/rotate'), {
          body: opts.provider ? { provider: opts.provider } : {},
        })
      ).data;
      if (ctx.json) ctx.printJson(r);
      else
        ctx.out(
          `key of ${org} rotated to version ${r.version} at ${r.provider} (${r.keyId}); ${r.rewrappedDataKeys} data keys re-wrapped; destroyed version(s) ${r.destroyedVersions.join(', ') || 'none'}`,
        );
    });

  const restriction = program
    .command('restriction')
    .description("restrict an organisation's processing (GDPR Art. 18): no new jobs, queued ones held, running ones requeued")
    .addHelpText('after', examples('gigafab restriction set --reason "accuracy contested"', 'gigafab restriction lift'));
  const printRestriction = (ctx: Ctx, r: Restriction) => {
    if (ctx.json) return ctx.printJson(r);
    ctx.out(
      renderKeyValues([
        ['Org', r.org],
        ['Restricted', r.restricted ? 'yes' : 'no'],
        ['Reason', r.reason ?? undefined],
        ['Since', r.since ?? undefined],
        ['By', r.restrictedBy ?? undefined],
        ['Held jobs', r.heldJobs?.length ? r.heldJobs.join(', ') : undefined],
      ]),
    );
  };
  restriction
    .command('set')
    .description('restrict processing')
    .requiredOption('--reason <text>', 'why (recorded in the audit log and shown on held jobs)')
    .option('--org <org>', 'organisation (default: yours)')
    .action(async (opts: { org?: string; reason: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const org = await orgOf(ctx, opts.org);
      printRestriction(
        ctx,
        (await ctx.client.request<Restriction>('POST', path(org, '/restriction'), { body: { reason: opts.reason } })).data,
      );
    });
  restriction
    .command('lift')
    .description('lift the restriction; held jobs are scheduled again')
    .option('--org <org>', 'organisation (default: yours)')
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const org = await orgOf(ctx, opts.org);
      printRestriction(ctx, (await ctx.client.request<Restriction>('DELETE', path(org, '/restriction'))).data);
    });
  restriction
    .command('show')
    .description('show whether processing is restricted')
    .option('--org <org>', 'organisation (default: yours)')
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const org = await orgOf(ctx, opts.org);
      printRestriction(ctx, (await ctx.client.request<Restriction>('GET', path(org, '/restriction'))).data);
    });

  const erasure = program
    .command('erasure')
    .description('erase an organisation by crypto-shredding (GDPR Art. 17); cannot be undone')
    .addHelpText('after', examples('gigafab erasure run robotics-gmbh --confirm robotics-gmbh --reason "contract ended"'));
  erasure
    .command('run')
    .description('destroy the organisation keys, stop its jobs, remove personal data; prints the erasure certificate')
    .argument('<org>', 'organisation')
    .requiredOption('--confirm <org>', 'the organisation id again')
    .requiredOption('--reason <text>', 'why (goes into the certificate)')
    .action(async (org: string, opts: { confirm: string; reason: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const cert = (
        await ctx.client.request<ErasureCertificateBody>('POST', path(org, '/erasure'), {
          body: { confirm: opts.confirm, reason: opts.reason },
        })
      ).data;
      ctx.printJson(cert);
    });
  erasure
    .command('show')
    .description("print an organisation's erasure certificate")
    .argument('<org>', 'organisation')
    .action(async (org: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      ctx.printJson((await ctx.client.request<ErasureCertificateBody>('GET', path(org, '/erasure'))).data);
    });
}
