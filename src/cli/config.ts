/**
 * CLI configuration: server URL and token.
 * Precedence: flags (--url/--token) > env (GIGAFAB_URL/GIGAFAB_TOKEN) > config file
 * ($GIGAFAB_CONFIG or ~/.config/gigafab/config.json, written by `gigafab login`) > default URL.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The config file: `{ "url": "...", "token": "..." }` (both optional). */
export interface ConfigFile {
  url?: string;
  token?: string;
}

function asConfigFile(raw: unknown): ConfigFile | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const { url, token } = raw as Record<string, unknown>;
  if ((url !== undefined && typeof url !== 'string') || (token !== undefined && typeof token !== 'string')) {
    return undefined;
  }
  const cfg: ConfigFile = {};
  if (url !== undefined) cfg.url = url;
  if (token !== undefined) cfg.token = token;
  return cfg;
}

export type Source = 'flag' | 'env' | 'config' | 'default';

export interface ResolvedConfig {
  url: string;
  token: string | undefined;
  urlSource: Source;
  tokenSource: Source | undefined;
  configPath: string;
}

export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;

export function configPath(env: Env = process.env): string {
  const explicit = env.GIGAFAB_CONFIG;
  if (explicit) return explicit;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'gigafab', 'config.json');
}

/** readConfigFile returns {} when the file does not exist; throws ConfigError when it is unreadable/invalid. */
export async function readConfigFile(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  const cfg = asConfigFile(raw);
  if (!cfg) throw new ConfigError(`config file ${path} is invalid; run \`gigafab login\` again`);
  return cfg;
}

/** writeConfigFile writes atomically with mode 0600 (directory 0700). */
export async function writeConfigFile(path: string, cfg: ConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** normalizeUrl validates an http(s) URL and strips trailing slashes. */
export function normalizeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`invalid server URL "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`invalid server URL "${url}": must be http:// or https://`);
  }
  return url.replace(/\/+$/, '');
}

/** resolveConfig applies the precedence rules. Pure: pass the flags, env and parsed file. */
export function resolveConfig(
  flags: { url?: string; token?: string },
  env: Env,
  file: ConfigFile,
  path: string = configPath(env),
): ResolvedConfig {
  const pick = (flag: string | undefined, envValue: string | undefined, fileValue: string | undefined) => {
    if (flag) return { value: flag, source: 'flag' as const };
    if (envValue) return { value: envValue, source: 'env' as const };
    if (fileValue) return { value: fileValue, source: 'config' as const };
    return undefined;
  };
  const url = pick(flags.url, env.GIGAFAB_URL, file.url);
  const token = pick(flags.token, env.GIGAFAB_TOKEN, file.token);
  return {
    url: normalizeUrl(url?.value ?? DEFAULT_URL),
    urlSource: url?.source ?? 'default',
    token: token?.value,
    tokenSource: token?.source,
    configPath: path,
  };
}

/** describeSource says where a setting came from, as `--verbose` shows it. */
export function describeSource(source: Source | undefined, which: 'url' | 'token', path: string): string {
  if (source === 'flag') return `--${which}`;
  if (source === 'env') return which === 'url' ? 'GIGAFAB_URL' : 'GIGAFAB_TOKEN';
  if (source === 'config') return `the config file ${path}`;
  return which === 'url' ? 'the default' : 'nowhere';
}

/** configSummary: the line `--verbose` prints before a command talks to the server; never the whole token. */
export function configSummary(c: ResolvedConfig): string {
  const token = c.token ? `${c.token.slice(0, 6)}… (from ${describeSource(c.tokenSource, 'token', c.configPath)})` : 'none';
  return `using server ${c.url} (from ${describeSource(c.urlSource, 'url', c.configPath)}), token ${token}`;
}

/** loadConfig: resolveConfig with the file read from disk. */
export async function loadConfig(flags: { url?: string; token?: string }, env: Env): Promise<ResolvedConfig> {
  const path = configPath(env);
  const haveUrl = Boolean(flags.url || env.GIGAFAB_URL);
  const haveToken = Boolean(flags.token || env.GIGAFAB_TOKEN);
  const file = haveUrl && haveToken ? {} : await readConfigFile(path);
  return resolveConfig(flags, env, file, path);
}
