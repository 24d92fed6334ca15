/**
 * Per-invocation context handed to command actions: resolved config, API client, output format, IO.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { type FetchLike, GigafabClient, type Page } from './client.js';
import { configSummary, type Env, loadConfig, type ResolvedConfig } from './config.js';
import { DurationError, type Io, type OutputFormat, parseDuration, renderJson } from './output.js';

/** Runtime: what the program touches outside itself (tests substitute all of it). */
export interface Runtime {
  io: Io;
  env: Env;
  fetch?: FetchLike;
  now?: () => number;
  /** Reads all of standard input (`-f -`); default: the process's. */
  stdin?: () => Promise<string>;
  /** A person watches stderr (a terminal): progress bars are drawn there. */
  interactive?: boolean;
}

export interface GlobalOptions {
  url?: string;
  token?: string;
  output: OutputFormat;
  /** --verbose: say on stderr where the server URL and token came from. */
  verbose?: boolean;
}

/** CliError: an error the CLI reports as `error: <message>` and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** ExitSilently ends the command with an exit code; the message (if any) was already printed. */
export class ExitCode extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitCode';
  }
}

export class Ctx {
  constructor(
    readonly rt: Runtime,
    readonly config: ResolvedConfig,
    readonly client: GigafabClient,
    readonly format: OutputFormat,
  ) {}

  get json(): boolean {
    return this.format === 'json';
  }
  now(): number {
    return this.rt.now ? this.rt.now() : Date.now();
  }
  out(text: string): void {
    this.rt.io.out(text.endsWith('\n') ? text : `${text}\n`);
  }
  /** Notes and hints go to stderr so stdout stays parseable. */
  note(text: string): void {
    this.rt.io.err(text.endsWith('\n') ? text : `${text}\n`);
  }
  printJson(value: unknown): void {
    this.rt.io.out(renderJson(value));
  }
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** makeCtx resolves configuration for an API command and builds the client. */
export async function makeCtx(cmd: Command, rt: Runtime): Promise<Ctx> {
  const g = globalOptions(cmd);
  const config = await loadConfig({ url: g.url, token: g.token }, rt.env);
  if (g.verbose) rt.io.err(`${configSummary(config)}\n`);
  const client = new GigafabClient({ url: config.url, token: config.token, fetch: rt.fetch });
  return new Ctx(rt, config, client, g.output ?? 'table');
}

// ---------- option parsers (commander argParser) ----------

export function parseIntArg(min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('Not an integer.');
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`Must be between ${min} and ${max}.`);
    return n;
  };
}

export function parseDurationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    if (err instanceof DurationError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** collect makes a repeatable option: `--env A=1 --env B=2` -> ['A=1', 'B=2']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** parseKeyValues turns ['A=1', 'B=x=y'] into {A: '1', B: 'x=y'}; `what` names the flag in errors. */
export function parseKeyValues(pairs: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`invalid ${what} "${pair}": expected KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** Examples block for help text. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** fetchList: one page, or every page with `all`; `more` tells whether pages were left unread. */
export async function fetchList<T>(
  client: { paginate<U>(f: (cursor: string | undefined) => Promise<Page<U>>): AsyncGenerator<U> },
  all: boolean | undefined,
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): Promise<{ items: T[]; more: boolean }> {
  if (!all) {
    const page = await fetchPage(undefined);
    return { items: page.items, more: Boolean(page.nextCursor) };
  }
  const items: T[] = [];
  for await (const item of client.paginate(fetchPage)) items.push(item);
  return { items, more: false };
}
