/**
 * gigafab budget set|show: an organisation's monthly hard cap (PUT/GET /v1/orgs/{org}/budget), in
 * EUR on the command line and cents on the wire.
 */
import type { Command } from 'commander';
import { euros } from '../../model/money.js';
import type { Budget } from '../../model/prices.js';
import { CliError, examples, makeCtx, type Runtime } from '../context.js';
import { renderKeyValues } from '../output.js';

/** parseEuros: `5000` or `5000.50` EUR → cents, exactly (no float arithmetic). */
export function parseEuros(s: string): number {
  const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) throw new CliError(`the cap is an amount in EUR such as 5000 or 5000.50, not ${s}`);
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

function render(b: Budget): string {
  return renderKeyValues([
    ['Organisation', b.org],
    ['Month', b.month],
    ['Cap', `EUR ${euros(b.capCents)}`],
    ['Spent', `EUR ${euros(b.spentCents)}`],
    ['Committed', `EUR ${euros(b.committedCents)} (queued and running jobs to their time limits)`],
    ['Remaining', `EUR ${euros(b.remainingCents)}`],
  ]);
}

export function registerBudget(program: Command, rt: Runtime): void {
  const budget = program
    .command('budget')
    .description("an organisation's monthly hard cap in EUR; admission refuses jobs that could pass it")
    .addHelpText('after', examples('gigafab budget set robotics-gmbh 5000', 'gigafab budget show robotics-gmbh'));

  budget
    .command('set')
    .description('set the monthly cap (organisation admins, operators)')
    .argument('<org>', 'organisation id')
    .argument('<eur>', 'cap in EUR, e.g. 5000 or 5000.50')
    .action(async (org: string, eur: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const capCents = parseEuros(eur);
      const { data } = await ctx.client.request<Budget>('PUT', `/v1/orgs/${encodeURIComponent(org)}/budget`, {
        body: { capCents },
      });
      if (ctx.json) ctx.printJson(data);
      else ctx.out(render(data));
    });

  budget
    .command('show')
    .description('the cap and this month’s spent, committed and remaining amounts')
    .argument('<org>', 'organisation id')
    .action(async (org: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<Budget>('GET', `/v1/orgs/${encodeURIComponent(org)}/budget`);
      if (ctx.json) ctx.printJson(data);
      else ctx.out(render(data));
    });
}
