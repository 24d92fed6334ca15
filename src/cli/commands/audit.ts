/**
 * gigafab audit list
 */
import type { Command } from 'commander';
import type { AuditRecord } from '../../model/schemas.js';
import { checkScope, readHead, saveHead } from '../audit-head.js';
import { CliError, ExitCode, examples, fetchList, makeCtx, parseIntArg, type Runtime } from '../context.js';
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

/** `gigafab audit verify|export`: tamper evidence, online (server checks) or offline (your export). */
export function registerAuditProofs(program: Command, rt: Runtime): void {
  const audit = program.commands.find((c) => c.name() === 'audit')!;
  audit
    .command('verify')
    .description('verify the audit hash chain and signed checkpoints; names the first bad record')
    .option('--file <export.jsonl>', 'verify an export offline instead of asking the server')
    .option('--key-id <id>', 'with --file: the signing key id you expect (published by the operator)')
    .option('--since-head <file>', 'a head saved earlier: prove the log still contains it and extends it')
    .option('--save-head <file>', 'after a verify that passes, save its head to give back to a later verify')
    .addHelpText(
      'after',
      examples(
        'gigafab audit verify --save-head audit-head.json',
        'gigafab audit verify --since-head audit-head.json --save-head audit-head.json',
        'gigafab audit export > audit.jsonl && gigafab audit verify --file audit.jsonl --since-head audit-head.json',
      ),
    )
    .action(async (opts: { file?: string; keyId?: string; sinceHead?: string; saveHead?: string }, cmd: Command) => {
      const held = opts.sinceHead ? await readHead(opts.sinceHead) : null;
      if (opts.file) {
        const { verifyExport } = await import('../audit-offline.js');
        const report = await verifyExport(opts.file, opts.keyId, held);
        if (held) checkScope(held, report.scope);
        rt.io.out(`${report.ok ? 'OK' : 'FAILED'}: ${report.message}\n`);
        if (!report.ok) throw new ExitCode(4);
        if (opts.saveHead && report.head) await saveHead(opts.saveHead, report.scope, report.head, report.keyId);
        return;
      }
      const ctx = await makeCtx(cmd, rt);
      const r = await ctx.client.verifyAudit(held ?? undefined);
      if (held) checkScope(held, r.scope);
      if (ctx.json) ctx.printJson(r);
      else if (r.ok) {
        const cp = r.checkpoint
          ? `; signed checkpoint ${r.checkpoint.seq ?? r.checkpoint.id} covers record ${r.checkpoint.uptoId} (key ${r.keyId})`
          : '';
        const since = held ? `; contains and extends your head ${held.id}` : '';
        ctx.out(`OK: ${r.checked} records of the ${r.scope} verify${cp}${since}`);
      } else ctx.out(`FAILED: ${r.problem?.reason ?? 'unknown problem'} — first bad record: ${r.problem?.recordId}`);
      if (!r.ok) throw new ExitCode(4);
      if (opts.saveHead && r.head) await saveHead(opts.saveHead, r.scope, r.head, r.keyId);
    });
  audit
    .command('export')
    .description('export the audit log (your organisation slice for admins) with its proofs')
    .option('--format <jsonl|csv>', 'jsonl (with the signed checkpoint) or csv', 'jsonl')
    .addHelpText('after', examples('gigafab audit export > audit.jsonl', 'gigafab audit export --format csv > audit.csv'))
    .action(async (opts: { format: string }, cmd: Command) => {
      if (opts.format !== 'jsonl' && opts.format !== 'csv')
        throw new CliError(`--format must be jsonl or csv, not ${opts.format}`);
      const ctx = await makeCtx(cmd, rt);
      rt.io.out(await ctx.client.exportAudit(opts.format));
    });
}
