/**
 * gigafab admin backup|restore: local commands on the data directory and the database, run where the
 * server runs (they use no API route: a backup must work with the API down, a restore before any
 * server exists). The work is in src/compose/backup.ts.
 */
import type { Command } from 'commander';
import { CliError, ExitCode, examples, globalOptions, type Runtime } from '../context.js';

/** Exit code of a restore whose audit log does not verify (as `gigafab audit verify`). */
export const EXIT_AUDIT_BROKEN = 4;

interface AdminOptions {
  dataDir: string;
  database?: string;
}

export function registerAdmin(program: Command, rt: Runtime): void {
  const admin = program
    .command('admin')
    .description('local administration of an installation: backup and restore (run on the server machine)');
  const progress = (line: string) => rt.io.err(`${line}\n`);
  const databaseUrl = (opts: AdminOptions) => opts.database ?? rt.env.GIGAFAB_DATABASE_URL;

  admin
    .command('backup')
    .description('online backup of the store and the audit signing key into FILE (safe while the server runs)')
    .argument('<file>', 'the backup file to write (never overwritten)')
    .option('--data-dir <dir>', "the server's data directory", './.gigafab')
    .option('--database <url>', 'PostgreSQL URL; default: $GIGAFAB_DATABASE_URL, else SQLite in --data-dir')
    .option('--keys-out <file>', "also back up the local key provider's keys/ into this separate file")
    .addHelpText(
      'after',
      examples(
        'gigafab admin backup /backups/gf-2026-12-06.gfb --data-dir /var/lib/gigafab --keys-out /keyvault/gf-keys.gfb',
        'gigafab admin backup gf.gfb --data-dir /srv/gf1 --database "$DB"',
      ),
    )
    .action(async (file: string, opts: AdminOptions & { keysOut?: string }) => {
      const { backup, BackupError } = await import('../../compose/backup.js');
      try {
        const m = await backup({ file, dataDir: opts.dataDir, databaseUrl: databaseUrl(opts), keysOut: opts.keysOut, progress });
        const bytes = m.members.reduce((n, x) => n + x.size, 0);
        rt.io.out(
          `backup written: ${file} (${m.dialect}, ${m.members.length} files, ${bytes} bytes, migration ${m.migration})${opts.keysOut ? `; keys: ${opts.keysOut}` : ''}\n`,
        );
      } catch (err) {
        if (err instanceof BackupError) throw new CliError(err.message);
        throw err;
      }
    });

  admin
    .command('restore')
    .description('restore a backup into a fresh installation (empty data dir / database), then verify the audit log')
    .argument('<file>', 'a file written by `gigafab admin backup`')
    .option('--data-dir <dir>', 'the new data directory (must be empty or absent)', './.gigafab')
    .option('--database <url>', 'the new, empty PostgreSQL database; default: $GIGAFAB_DATABASE_URL, else SQLite')
    .option('--keys <file>', 'the keys file written by `backup --keys-out`')
    .addHelpText(
      'after',
      `${examples(
        'gigafab admin restore gf.gfb --data-dir /var/lib/gigafab --keys gf-keys.gfb',
        'createdb gigafab2 && gigafab admin restore gf.gfb --data-dir /srv/gf --database postgresql://…/gigafab2',
      )}
Exit codes: 0 restored and the audit log verifies; 1 refused or failed (nothing restored);
${EXIT_AUDIT_BROKEN} restored, but the audit log does not verify (the first bad record is named).
`,
    )
    .action(async (file: string, opts: AdminOptions & { keys?: string }, cmd: Command) => {
      const { restore, BackupError } = await import('../../compose/backup.js');
      let result: Awaited<ReturnType<typeof restore>>;
      try {
        result = await restore({ file, dataDir: opts.dataDir, databaseUrl: databaseUrl(opts), keysFile: opts.keys, progress });
      } catch (err) {
        if (err instanceof BackupError) throw new CliError(err.message);
        throw err;
      }
      const a = result.audit;
      if (result.missingKeys.length > 0)
        rt.io.err(
          `warning: the local key provider lacks ${result.missingKeys.length} key(s) this database needs: ${result.missingKeys.slice(0, 5).join(', ')}${result.missingKeys.length > 5 ? ', …' : ''}; a server will not start on it until keys/ is restored (--keys FILE from \`backup --keys-out\`, taken after this backup)\n`,
        );
      if (globalOptions(cmd).output === 'json')
        rt.io.out(`${JSON.stringify({ manifest: result.manifest, audit: a, missingKeys: result.missingKeys }, null, 2)}\n`);
      else if (a.ok) {
        const cp = a.checkpoint
          ? `; signed checkpoint ${a.checkpoint.seq ?? a.checkpoint.id} covers record ${a.checkpoint.uptoId} (key ${a.keyId})`
          : '';
        rt.io.out(`OK: restored into ${opts.dataDir}; ${a.checked} records of the ${a.scope} verify${cp}\n`);
      } else
        rt.io.out(
          `FAILED: restored into ${opts.dataDir}, but the audit log does not verify: ${a.problem?.reason ?? 'unknown problem'} — first bad record: ${a.problem?.recordId}\n`,
        );
      if (!a.ok) throw new ExitCode(EXIT_AUDIT_BROKEN);
    });
}
