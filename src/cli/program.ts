/**
 * The gigafab command tree and the top-level error handling (exit codes).
 */
import { type Command, CommanderError, Option } from 'commander';
import { extraFieldLines } from '../model/validation-messages.js';
import { ApiError, ConnectionError } from './client.js';
import { ConfigError } from './config.js';
import { CliError, ExitCode, examples, type Runtime } from './context.js';
import { OUTPUT_FORMATS } from './output.js';
import { GigafabCommand } from './suggest.js';

export const VERSION = '0.1.0';

/** Exit codes: 0 ok, 1 API/usage error, 2 server unreachable, 3 `job submit --wait`: job did not succeed. */
export const EXIT = { ok: 0, error: 1, unreachable: 2 } as const;

type Registrar = (program: Command, rt: Runtime) => void;

/**
 * The top-level commands, in help order, each with the module that registers it. Modules load on demand: a
 * call such as `gigafab job show 7` imports only the job commands, so the CLI does not pay for zod, the
 * simulator and the server code it does not run (start-up was ~0.7 s with everything imported eagerly).
 */
export const COMMAND_GROUPS: readonly { names: readonly string[]; load: () => Promise<Registrar[]> }[] = [
  { names: ['server'], load: async () => [(await import('./commands/server.js')).registerServer] },
  { names: ['login', 'whoami'], load: async () => [(await import('./commands/auth.js')).registerAuth] },
  { names: ['org'], load: async () => [(await import('./commands/org.js')).registerOrg] },
  { names: ['project'], load: async () => [(await import('./commands/project.js')).registerProject] },
  { names: ['quota'], load: async () => [(await import('./commands/quota.js')).registerQuota] },
  { names: ['user'], load: async () => [(await import('./commands/user.js')).registerUser] },
  { names: ['token'], load: async () => [(await import('./commands/token.js')).registerToken] },
  {
    names: ['job'],
    load: async () => [
      (await import('./commands/job.js')).registerJob,
      (await import('./commands/scheduling.js')).registerCheckpoint,
    ],
  },
  { names: ['session'], load: async () => [(await import('./commands/session.js')).registerSession] },
  { names: ['ssh-key'], load: async () => [(await import('./commands/ssh-key.js')).registerSshKey] },
  { names: ['service'], load: async () => [(await import('./commands/service.js')).registerService] },
  { names: ['fleet'], load: async () => [(await import('./commands/fleet.js')).registerFleet] },
  {
    names: ['node'],
    load: async () => [
      (await import('./commands/node.js')).registerNode,
      (await import('./commands/scheduling.js')).registerNodeState,
    ],
  },
  {
    names: ['audit'],
    load: async () => {
      const m = await import('./commands/audit.js');
      return [m.registerAudit, m.registerAuditProofs];
    },
  },
  { names: ['simulate'], load: async () => [(await import('./commands/simulate.js')).registerSimulate] },
  { names: ['trace'], load: async () => [(await import('./commands/trace.js')).registerTrace] },
  { names: ['access'], load: async () => [(await import('./commands/access.js')).registerAccess] },
  {
    names: ['secret', 'keys', 'restriction', 'erasure'],
    load: async () => [(await import('./commands/secret.js')).registerSecret],
  },
  { names: ['reservation'], load: async () => [(await import('./commands/scheduling.js')).registerReservation] },
  { names: ['maintenance'], load: async () => [(await import('./commands/scheduling.js')).registerMaintenance] },
  { names: ['residency'], load: async () => [(await import('./commands/residency.js')).registerResidency] },
  { names: ['dataset'], load: async () => [(await import('./commands/residency.js')).registerDataset] },
  { names: ['usage'], load: async () => [(await import('./commands/usage.js')).registerUsage] },
  { names: ['prices'], load: async () => [(await import('./commands/prices.js')).registerPrices] },
  { names: ['invoice'], load: async () => [(await import('./commands/invoice.js')).registerInvoice] },
  { names: ['energy'], load: async () => [(await import('./commands/energy.js')).registerEnergy] },
  { names: ['budget'], load: async () => [(await import('./commands/budget.js')).registerBudget] },
  { names: ['admin'], load: async () => [(await import('./commands/admin.js')).registerAdmin] },
];

/** Global options that take a value, so that the word after them is not taken for the command. */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--url', '--token', '-o', '--output']);

/**
 * groupsFor: the command groups a call needs. The first word that is not a global option names the command;
 * when it names none (no command, `--help`, `help`, a typo that deserves "did you mean"), every group loads.
 */
export async function groupsFor(argv: readonly string[]): Promise<typeof COMMAND_GROUPS> {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    if (word === '--') break;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(word)) {
      i++;
      continue;
    }
    if (word.startsWith('-')) continue;
    const group = COMMAND_GROUPS.find((g) => g.names.includes(word));
    return group ? [group] : COMMAND_GROUPS;
  }
  // `gigafab --version` prints the version and needs no command; anything else without one shows them all.
  return argv.includes('--version') || argv.includes('-V') ? [] : COMMAND_GROUPS;
}

/** buildProgram: the command tree for `argv` (only the command it names, or all of them; see groupsFor). */
export async function buildProgram(rt: Runtime, argv: readonly string[] = []): Promise<Command> {
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

  for (const group of await groupsFor(argv)) for (const register of await group.load()) register(program, rt);
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
  const program = await buildProgram(rt, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    return reportError(err, rt);
  }
}
