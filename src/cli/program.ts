/**
 * The gigafab command tree and the top-level error handling (exit codes).
 */
import { type Command, CommanderError, Option } from 'commander';
import { extraFieldLines } from '../model/validation-messages.js';
import { ApiError, ConnectionError } from './client.js';
import { registerAccess } from './commands/access.js';
import { registerAudit, registerAuditProofs } from './commands/audit.js';
import { registerAuth } from './commands/auth.js';
import { registerBudget } from './commands/budget.js';
import { registerFleet } from './commands/fleet.js';
import { registerJob } from './commands/job.js';
import { registerNode } from './commands/node.js';
import { registerOrg } from './commands/org.js';
import { registerPrices } from './commands/prices.js';
import { registerProject } from './commands/project.js';
import { registerQuota } from './commands/quota.js';
import { registerDataset, registerResidency } from './commands/residency.js';
import { registerCheckpoint, registerMaintenance, registerNodeState, registerReservation } from './commands/scheduling.js';
import { registerSecret } from './commands/secret.js';
import { registerServer } from './commands/server.js';
import { registerService } from './commands/service.js';
import { registerSession } from './commands/session.js';
import { registerSimulate } from './commands/simulate.js';
import { registerToken } from './commands/token.js';
import { registerUsage } from './commands/usage.js';
import { registerUser } from './commands/user.js';
import { ConfigError } from './config.js';
import { CliError, ExitCode, examples, type Runtime } from './context.js';
import { OUTPUT_FORMATS } from './output.js';
import { GigafabCommand } from './suggest.js';

export const VERSION = '0.1.0';

/** Exit codes: 0 ok, 1 API/usage error, 2 server unreachable, 3 `job submit --wait`: job did not succeed. */
export const EXIT = { ok: 0, error: 1, unreachable: 2 } as const;

export function buildProgram(rt: Runtime): Command {
  const program = new GigafabCommand('gigafab');
  program
    .description('gigafab: control plane for a multi-tenant GPU cloud')
    .version(VERSION, '-V, --version')
    .option('--url <url>', 'server URL (env GIGAFAB_URL; default http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (env GIGAFAB_TOKEN)')
    .option('-v, --verbose', 'say where the server URL and token come from (flag, env or config file)')
    .addOption(new Option('-o, --output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
    .exitOverride()
    .configureOutput({ writeOut: (s) => rt.io.out(s), writeErr: (s) => rt.io.err(s) })
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText(
      'after',
      `${examples(
        'gigafab login --url http://127.0.0.1:8080 --token gf_...',
        'gigafab job submit -f job.yaml --wait',
        'gigafab job list --state queued',
        'gigafab fleet show',
      )}
Configuration: --url/--token, else GIGAFAB_URL/GIGAFAB_TOKEN, else the file written by
\`gigafab login\` ($GIGAFAB_CONFIG or ~/.config/gigafab/config.json); --verbose says which one was used.
Exit codes: 0 ok, 1 API or usage error, 2 server unreachable, 3 job did not succeed (submit --wait).
`,
    );

  registerServer(program, rt);
  registerAuth(program, rt);
  registerOrg(program, rt);
  registerProject(program, rt);
  registerQuota(program, rt);
  registerUser(program, rt);
  registerToken(program, rt);
  registerJob(program, rt);
  registerSession(program, rt);
  registerService(program, rt);
  registerFleet(program, rt);
  registerNode(program, rt);
  registerAudit(program, rt);
  registerAuditProofs(program, rt);
  registerSimulate(program, rt);
  registerAccess(program, rt);
  registerSecret(program, rt);
  registerReservation(program, rt);
  registerMaintenance(program, rt);
  registerNodeState(program, rt);
  registerCheckpoint(program, rt);
  registerResidency(program, rt);
  registerDataset(program, rt);
  registerUsage(program, rt);
  registerPrices(program, rt);
  registerBudget(program, rt);
  return program;
}

/** reportError prints an error the way the CLI shows it and returns the exit code. */
export function reportError(err: unknown, rt: Runtime): number {
  const say = (line: string) => rt.io.err(`${line}\n`);
  if (err instanceof CommanderError) return err.exitCode; // commander already printed it (or help/version)
  if (err instanceof ExitCode) return err.exitCode;
  if (err instanceof ApiError) {
    say(`error: ${err.detail} (${err.code})`);
    // Only what the detail does not already say: no line twice, none without a field.
    for (const line of extraFieldLines(err.detail, err.errors)) say(`  ${line}`);
    if (err.status === 401)
      say('hint: check --token / GIGAFAB_TOKEN, or run `gigafab login`; --verbose shows which token was sent');
    return EXIT.error;
  }
  if (err instanceof ConnectionError) {
    say(`error: ${err.message}`);
    say('hint: is the server running? Start one with `gigafab server`, or pass --url / GIGAFAB_URL');
    return EXIT.unreachable;
  }
  if (err instanceof CliError) {
    say(`error: ${err.message}`);
    for (const d of err.details) say(`  ${d}`);
    return err.exitCode;
  }
  if (err instanceof ConfigError) {
    say(`error: ${err.message}`);
    return EXIT.error;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  say(`error: ${e.message}`);
  if (rt.env.GIGAFAB_DEBUG && e.stack) say(e.stack);
  return EXIT.error;
}

/** run parses argv (without node and script) and returns the exit code. */
export async function run(argv: readonly string[], rt: Runtime): Promise<number> {
  const program = buildProgram(rt);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    return reportError(err, rt);
  }
}
