/**
 * gigafab access request | break-glass | list | show | approve | deny | uses | notifications
 * Operator access to tenant data with the tenant's consent (the lockbox).
 */
import type { Command } from 'commander';
import type { AccessNotification, AccessRequest, AccessUse } from '../../model/lockbox-schemas.js';
import { type Ctx, collect, examples, makeCtx, parseDurationArg, parseIntArg, type Runtime } from '../context.js';
import { renderKeyValues, renderTable } from '../output.js';

interface ScopeFlags {
  org: string;
  object: string[];
  verb: string[];
  country: string;
  duration: number;
  retentionDays: number;
}

const scopeOf = (o: ScopeFlags) => ({ objects: o.object, verbs: o.verb });

function showRequest(ctx: Ctx, r: AccessRequest & { uses?: AccessUse[] }): void {
  if (ctx.json) {
    ctx.printJson(r);
    return;
  }
  ctx.out(
    renderKeyValues([
      ['Id', r.id],
      ['Org', r.org],
      ['Kind', r.kind],
      ['State', r.state],
      ['Requester', `${r.requester} (from ${r.requesterCountry})`],
      ['Cause', `${r.cause} [${r.reasonCode}]`],
      ['Scope', `${r.scope.objects.join(', ')}: ${r.scope.verbs.join(', ')}`],
      ['Duration', `${r.durationSeconds}s`],
      ['Derived data kept', `${r.derivedDataRetentionDays} days`],
      ['Approval deadline', r.approvalDeadline],
      ['Decided', r.decidedBy ? `${r.decidedBy} at ${r.decidedAt}${r.decisionComment ? `: ${r.decisionComment}` : ''}` : null],
      ['Access ends', r.accessEndsAt],
    ]),
  );
  if (r.uses) {
    ctx.out(
      r.uses.length
        ? renderTable(
            ['TIME', 'ACTOR', 'VERB', 'OBJECT'],
            r.uses.map((u) => [u.at, u.actor, u.verb, u.object]),
          )
        : 'no uses',
    );
  }
}

function scopeOptions(cmd: Command, durationHelp: string): Command {
  return cmd
    .requiredOption('--org <org>', 'the organisation whose data you need')
    .requiredOption(
      '--object <ref>',
      'object: job:812, job:*, secret:NAME, dataset:ds_ID, report:residency, report:processing-record (repeatable)',
      collect,
    )
    .requiredOption(
      '--verb <verb>',
      'read-spec, read-logs, read-secret, read-dataset, read-report, open-session (repeatable)',
      collect,
    )
    .requiredOption('--country <CC>', 'ISO country code you access from, e.g. DE')
    .requiredOption('--duration <d>', durationHelp, parseDurationArg)
    .option('--retention-days <n>', 'days derived copies (notes, excerpts) are kept', parseIntArg(0, 3650), 30);
}

export function registerAccess(program: Command, rt: Runtime): void {
  const access = program.command('access').description("operator access to a tenant's data, only with its consent (lockbox)");

  scopeOptions(
    access.command('request').description("operator: ask an organisation's admins for access to its data"),
    'how long access lasts once approved (e.g. 2h)',
  )
    .requiredOption('--cause <text>', 'why you need access (ticket, symptom)')
    .option('--reason <code>', 'customer-support, incident, maintenance, legal-request', 'customer-support')
    .option('--deadline <d>', 'how long the tenant has to answer (e.g. 4h)', parseDurationArg, 86400)
    .addHelpText(
      'after',
      examples(
        'gigafab access request --org acme --object job:812 --verb read-logs --cause "ticket 4711: NCCL timeouts" --country DE --duration 2h',
      ),
    )
    .action(async (o: ScopeFlags & { cause: string; reason: string; deadline: number }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<AccessRequest>('POST', '/v1/access-requests', {
        body: {
          org: o.org,
          cause: o.cause,
          reasonCode: o.reason,
          scope: scopeOf(o),
          durationSeconds: o.duration,
          requesterCountry: o.country,
          derivedDataRetentionDays: o.retentionDays,
          approvalDeadline: new Date(ctx.now() + o.deadline * 1000).toISOString(),
        },
      });
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`access request ${data.id} filed; an admin of ${data.org} must answer before ${data.approvalDeadline}`);
    });

  scopeOptions(
    access
      .command('break-glass')
      .description('operator: emergency access now, without approval (max 1h); the tenant is notified afterwards'),
    'how long (at most 1h)',
  )
    .requiredOption('--justification <text>', 'the emergency')
    .addHelpText(
      'after',
      examples(
        'gigafab access break-glass --org acme --object "job:*" --verb read-logs --justification "incident 99" --country DE --duration 15m',
      ),
    )
    .action(async (o: ScopeFlags & { justification: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<AccessRequest>('POST', '/v1/access-requests/break-glass', {
        body: {
          org: o.org,
          justification: o.justification,
          scope: scopeOf(o),
          durationSeconds: o.duration,
          requesterCountry: o.country,
          derivedDataRetentionDays: o.retentionDays,
        },
      });
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`break-glass access ${data.id} active until ${data.accessEndsAt}; ${data.org} has been notified`);
    });

  access
    .command('list')
    .alias('ls')
    .description('list access requests (tenants: those for their organisation)')
    .option('--org <org>', 'operators: only this organisation')
    .option('--state <state>', 'pending, expired, denied, active, ended')
    .addHelpText('after', examples('gigafab access list', 'gigafab access list --state pending'))
    .action(async (o: { org?: string; state?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: AccessRequest[] }>('GET', '/v1/access-requests', {
        query: { org: o.org, state: o.state },
      });
      if (ctx.json) return ctx.printJson(data.items);
      if (data.items.length === 0) return ctx.note('no access requests');
      ctx.out(
        renderTable(
          ['ID', 'ORG', 'KIND', 'STATE', 'REQUESTER', 'SCOPE', 'DEADLINE', 'ENDS'],
          data.items.map((r) => [
            r.id,
            r.org,
            r.kind,
            r.state,
            r.requester,
            `${r.scope.objects.join(',')} ${r.scope.verbs.join(',')}`,
            r.approvalDeadline,
            r.accessEndsAt,
          ]),
        ),
      );
    });

  access
    .command('show')
    .description('show an access request and every use made of it')
    .argument('<id>', 'access request id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<AccessRequest & { uses: AccessUse[] }>(
        'GET',
        `/v1/access-requests/${encodeURIComponent(id)}`,
      );
      showRequest(ctx, data);
    });

  for (const verb of ['approve', 'deny'] as const) {
    access
      .command(verb)
      .description(`org admin: ${verb} a pending access request`)
      .argument('<id>', 'access request id')
      .option('--comment <text>', 'why (kept with the decision)')
      .addHelpText('after', examples(`gigafab access ${verb} acr_1a2b3c4d5e6f --comment "ticket 4711"`))
      .action(async (id: string, o: { comment?: string }, cmd: Command) => {
        const ctx = await makeCtx(cmd, rt);
        const { data } = await ctx.client.request<AccessRequest>(
          'POST',
          `/v1/access-requests/${encodeURIComponent(id)}/${verb}`,
          { body: o.comment ? { comment: o.comment } : {} },
        );
        if (ctx.json) return ctx.printJson(data);
        ctx.out(
          data.state === 'active'
            ? `approved ${data.id}: ${data.requester} has access until ${data.accessEndsAt}`
            : `denied ${data.id}`,
        );
      });
  }

  access
    .command('uses')
    .description('every use operators made of granted access (tenants: to their data)')
    .option('--request <id>', 'only uses of this access request')
    .action(async (o: { request?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: AccessUse[] }>('GET', '/v1/access-uses', {
        query: { accessRequest: o.request },
      });
      if (ctx.json) return ctx.printJson(data.items);
      if (data.items.length === 0) return ctx.note('no uses');
      ctx.out(
        renderTable(
          ['TIME', 'ORG', 'ACTOR', 'VERB', 'OBJECT', 'REQUEST'],
          data.items.map((u) => [u.at, u.org, u.actor, u.verb, u.object, u.accessRequest]),
        ),
      );
    });

  access
    .command('notifications')
    .description('after-the-fact notices of break-glass access to your data')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: AccessNotification[] }>('GET', '/v1/access-notifications');
      if (ctx.json) return ctx.printJson(data.items);
      if (data.items.length === 0) return ctx.note('no notifications');
      ctx.out(
        renderTable(
          ['TIME', 'ORG', 'REQUEST', 'MESSAGE'],
          data.items.map((n) => [n.createdAt, n.org, n.accessRequest, n.message]),
        ),
      );
    });
}
