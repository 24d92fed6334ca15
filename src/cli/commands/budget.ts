/**
 * gigafab budget set|show|list: monthly hard caps of an organisation (PUT/GET /v1/orgs/{org}/budget)
 * and its projects (PUT/GET /v1/projects/{project}/budget), in EUR on the command line and cents on
 * the wire.
 */
import type { Command } from 'commander';
import { euros } from '../../model/money.js';
import type { Budget, BudgetAlertList, BudgetList, WebhookSecret } from '../../model/prices.js';
import { CliError, examples, makeCtx, type Runtime } from '../context.js';
import { renderKeyValues, renderTable } from '../output.js';

/** parseEuros: `5000` or `5000.50` EUR → cents, exactly (no float arithmetic). */
export function parseEuros(s: string): number {
  const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) throw new CliError(`the cap is an amount in EUR such as 5000 or 5000.50, not ${s}`);
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

function render(b: Budget): string {
  return renderKeyValues([
    ['Organisation', b.org],
    ['Project', b.project ?? null],
    ['Policy', b.policy === 'wait' ? 'wait (jobs over budget are queued and wait)' : 'refuse (jobs over budget are refused)'],
    ['Alerts at', b.alertThresholds.length > 0 ? b.alertThresholds.map((t) => `${t} %`).join(', ') : null],
    ['Webhook', b.webhookUrl],
    ['Month', b.month],
    ['Cap', `EUR ${euros(b.capCents)}`],
    ['Spent', `EUR ${euros(b.spentCents)}`],
    ['Committed', `EUR ${euros(b.committedCents)} (queued and running jobs to their time limits)`],
    ['Remaining', `EUR ${euros(b.remainingCents)}`],
  ]);
}

/** budgetPath: `ORG` → the organisation's budget, `ORG/PROJECT` → the project's. */
function budgetPath(target: string): string {
  const m = /^([^/\s]+)(?:\/([^/\s]+))?$/.exec(target);
  if (!m) throw new CliError(`name a budget as ORG or ORG/PROJECT, not ${target}`);
  return m[2] === undefined ? `/v1/orgs/${encodeURIComponent(m[1])}/budget` : `/v1/projects/${encodeURIComponent(m[2])}/budget`;
}

function parseThresholds(s: string): number[] {
  if (s === 'none') return [];
  const parts = s.split(',').map((p) => p.trim().replace(/%$/, ''));
  if (!parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) >= 1 && Number(p) <= 100)) {
    throw new CliError(`--alert takes percents from 1 to 100 separated by commas, such as 50,80,100, not ${s}`);
  }
  return parts.map(Number);
}

function parsePolicy(p: string | undefined): 'refuse' | 'wait' | undefined {
  if (p === undefined || p === 'refuse' || p === 'wait') return p;
  throw new CliError(`--policy is refuse or wait, not ${p}`);
}

export function registerBudget(program: Command, rt: Runtime): void {
  const budget = program
    .command('budget')
    .description('monthly hard caps in EUR for an organisation and its projects; over one, a job is refused or waits')
    .addHelpText(
      'after',
      examples(
        'gigafab budget set robotics-gmbh 5000',
        'gigafab budget set robotics-gmbh/robotics 1500 --policy wait',
        'gigafab budget list robotics-gmbh',
      ),
    );

  budget
    .command('set')
    .description("set a monthly cap (the organisation's admins, operators); a project's stays under its organisation's")
    .argument('<budget>', 'ORG for the organisation, ORG/PROJECT for a project')
    .argument('<eur>', 'cap in EUR, e.g. 5000 or 5000.50')
    .option(
      '--policy <policy>',
      'at the cap: refuse (422 at submission) or wait (queued until budget frees); default: unchanged, else refuse',
    )
    .option(
      '--alert <percents>',
      'alert thresholds in percent of the cap, e.g. 50,80,100 ("none": no alerts); default: unchanged',
    )
    .option(
      '--webhook <url>',
      'where alerts are POSTed, signed ("none": no webhook); create the secret first with budget webhook-secret',
    )
    .addHelpText(
      'after',
      examples('gigafab budget set robotics-gmbh 5000', 'gigafab budget set robotics-gmbh/robotics 1500 --policy wait'),
    )
    .action(async (target: string, eur: string, opts: { policy?: string; alert?: string; webhook?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const body: Record<string, unknown> = { capCents: parseEuros(eur) };
      const policy = parsePolicy(opts.policy);
      if (policy) body.policy = policy;
      if (opts.alert !== undefined) body.alertThresholds = parseThresholds(opts.alert);
      if (opts.webhook !== undefined) body.webhookUrl = opts.webhook === 'none' ? null : opts.webhook;
      const { data } = await ctx.client.request<Budget>('PUT', budgetPath(target), { body });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(render(data));
    });

  budget
    .command('show')
    .description('a cap and this month’s spent, committed and remaining amounts')
    .argument('<budget>', 'ORG for the organisation, ORG/PROJECT for a project')
    .addHelpText('after', examples('gigafab budget show robotics-gmbh', 'gigafab budget show robotics-gmbh/robotics'))
    .action(async (target: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<Budget>('GET', budgetPath(target));
      if (ctx.json) ctx.printJson(data);
      else ctx.out(render(data));
    });

  budget
    .command('list')
    .description('the organisation’s budget and its projects’, with this month’s figures')
    .argument('<org>', 'organisation id')
    .addHelpText('after', examples('gigafab budget list robotics-gmbh'))
    .action(async (org: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<BudgetList>('GET', `/v1/orgs/${encodeURIComponent(org)}/budgets`);
      if (ctx.json) return ctx.printJson(data);
      ctx.out(
        renderTable(
          ['budget', 'policy', 'month', 'cap', 'spent', 'committed', 'remaining'],
          data.items.map((b) => [
            b.project ? `${b.org}/${b.project}` : b.org,
            b.policy,
            b.month,
            euros(b.capCents),
            euros(b.spentCents),
            euros(b.committedCents),
            euros(b.remainingCents),
          ]),
        ),
      );
    });

  budget
    .command('webhook-secret')
    .description("create (or replace) the secret that signs the organisation's budget webhooks; shown once (its admins)")
    .argument('<org>', 'organisation id')
    .addHelpText('after', examples('gigafab budget webhook-secret robotics-gmbh'))
    .action(async (org: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<WebhookSecret>(
        'POST',
        `/v1/orgs/${encodeURIComponent(org)}/budget-webhook-secret`,
      );
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`${data.secret}\n# shown once: keep it to verify the gigafab-signature header of budget webhooks`);
    });

  budget
    .command('alerts')
    .description("thresholds the organisation's budgets crossed, newest first, with their webhook deliveries")
    .argument('<org>', 'organisation id')
    .addHelpText('after', examples('gigafab budget alerts robotics-gmbh'))
    .action(async (org: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<BudgetAlertList>('GET', `/v1/orgs/${encodeURIComponent(org)}/budget-alerts`);
      if (ctx.json) return ctx.printJson(data);
      ctx.out(
        renderTable(
          ['at', 'budget', 'month', 'threshold', 'delivery', 'attempts', 'last error'],
          data.items.map((a) => [
            a.at,
            a.project ? `${a.org}/${a.project}` : a.org,
            a.month,
            `${a.thresholdPct} %`,
            a.delivery.state,
            a.delivery.attempts,
            a.delivery.lastError,
          ]),
        ),
      );
    });
}
