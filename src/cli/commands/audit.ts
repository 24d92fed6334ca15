/**
 * gigafab audit list
 */
import type { Command } from 'commander';
import type { AuditRecord } from '../../api/schemas.js';
import { examples, fetchList, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { renderTable } from '../output.js';

export function registerAudit(program: Command, rt: Runtime): void {
  const audit = program.command('audit').description('the audit log of changes');
  audit
    .command('list')
    .alias('ls')
    .description('list audit records, newest first')
    .option('--limit <n>', 'how many records (page size)', parseIntArg(1, 1000))
    .option('--all', 'follow pages until the end')
    .addHelpText('after', examples('gigafab audit list --limit 20', 'gigafab audit list --all -o json'))
    .action(async (opts: { limit?: number; all?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { items, more } = await fetchList<AuditRecord>(ctx.client, opts.all, (cursor) =>
        ctx.client.listAudit({ limit: opts.limit, cursor }),
      );
      if (ctx.json) ctx.printJson(items);
      else if (items.length === 0) ctx.note('no audit records');
      else
        ctx.out(
          renderTable(
            ['ID', 'TIME', 'ACTOR', 'ORG', 'ACTION', 'OBJECT'],
            items.map((a) => [a.id, a.at, a.actor, a.org, a.action, `${a.objectType}/${a.objectId}`]),
          ),
        );
      if (more) ctx.note('(more records exist; use --all or a larger --limit)');
    });
}
