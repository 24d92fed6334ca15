/**
 * Building a JobSpec for `gigafab job submit`: job file (YAML/JSON) + flags, validated with the
 * API's own JobSpecSchema before anything is sent. `yaml` and the schemas (zod) are imported
 * lazily: they cost ~250 ms of start-up that every other command would otherwise pay.
 */
import { readFile } from 'node:fs/promises';
import type { JobSpecInput } from '../model/schemas.js';
import { type ConstraintFlags, mergeConstraintFlags } from './constraint-flags.js';
import { CliError, parseKeyValues } from './context.js';

/** Flags of `job submit` that map onto JobSpec fields (already parsed by commander). */
export interface JobFlags extends ConstraintFlags {
  name?: string;
  project?: string;
  gpuType?: string;
  gpusPerNode?: number;
  nodes?: number;
  /** --gpu-fraction: milli-GPU of one GPU */
  gpuFraction?: number;
  /** --gpu-memory: MiB, with --gpu-fraction */
  gpuMemory?: number;
  /** --mig: a MIG profile */
  mig?: string;
  image?: string;
  /** --registry-secret: the org secret holding the registry credentials */
  registrySecret?: string;
  /** --shm-size, e.g. 16g */
  shmSize?: string;
  /** --memory, e.g. 64g */
  memory?: string;
  /** --command "<cmd>" (split like a shell would) */
  command?: string;
  /** arguments after `--` */
  args?: string[];
  env?: string[];
  /** --max-runtime, already in seconds */
  maxRuntime?: number;
  priority?: string;
  label?: string[];
  /** --sim-duration, already in seconds */
  simDuration?: number;
  simExitCode?: number;
}

export type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** splitCommandLine splits like a POSIX shell (quotes and backslashes; no expansion). */
export function splitCommandLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new CliError(`unterminated ' in --command: ${line}`);
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < line.length) {
        const d = line[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) {
          cur += line[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
      if (!closed) throw new CliError(`unterminated " in --command: ${line}`);
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** parseJobFileText parses YAML or JSON (by file name; YAML also accepts JSON) into an object. */
export async function parseJobFileText(text: string, name: string): Promise<Obj> {
  let raw: unknown;
  try {
    raw = name.toLowerCase().endsWith('.json') ? JSON.parse(text) : (await import('yaml')).parse(text);
  } catch (err) {
    throw new CliError(`cannot parse job file ${name}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) return {};
  if (!isObj(raw)) throw new CliError(`job file ${name} must contain a mapping of JobSpec fields`);
  return raw;
}

/** readJobFileText reads `path` (`-` is stdin). */
export async function readJobFileText(path: string, stdin: () => Promise<string> = readStdin): Promise<string> {
  try {
    return path === '-' ? await stdin() : await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read job file ${path}: ${(err as Error).message}`);
  }
}

/** readJobFile reads and parses `path` (`-` is stdin). */
export async function readJobFile(path: string, stdin: () => Promise<string> = readStdin): Promise<Obj> {
  return parseJobFileText(await readJobFileText(path, stdin), path === '-' ? 'stdin' : path);
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * mergeJobSpec: flags override file fields. Maps (env, labels, simulation) merge key by key,
 * the flag's value winning; the command is replaced as a whole.
 */
export function mergeJobSpec(file: Obj, flags: JobFlags): Obj {
  const spec: Obj = { ...file };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) spec[key] = value;
  };
  set('name', flags.name);
  set('project', flags.project);
  set('gpuType', flags.gpuType);
  set('gpusPerNode', flags.gpusPerNode);
  set('nodes', flags.nodes);
  set('gpuFraction', flags.gpuFraction);
  set('gpuMemoryMiB', flags.gpuMemory);
  set('migProfile', flags.mig);
  set('image', flags.image);
  set('registryCredentials', flags.registrySecret);
  if (flags.shmSize !== undefined || flags.memory !== undefined) {
    const res: Obj = { ...(isObj(file.resources) ? file.resources : {}) };
    if (flags.shmSize !== undefined) res.shmSize = flags.shmSize;
    if (flags.memory !== undefined) res.memory = flags.memory;
    spec.resources = res;
  }
  set('maxRuntimeSeconds', flags.maxRuntime);
  set('priorityClass', flags.priority);

  const args = flags.args ?? [];
  if (flags.command !== undefined && args.length > 0) {
    throw new CliError('use either --command "<cmd>" or arguments after --, not both');
  }
  if (flags.command !== undefined) spec.command = splitCommandLine(flags.command);
  else if (args.length > 0) spec.command = [...args];

  if (flags.env && flags.env.length > 0) {
    spec.env = { ...(isObj(file.env) ? file.env : {}), ...parseKeyValues(flags.env, '--env') };
  }
  if (flags.label && flags.label.length > 0) {
    spec.labels = { ...(isObj(file.labels) ? file.labels : {}), ...parseKeyValues(flags.label, '--label') };
  }
  if (flags.simDuration !== undefined || flags.simExitCode !== undefined) {
    const sim: Obj = { ...(isObj(file.simulation) ? file.simulation : {}) };
    if (flags.simDuration !== undefined) sim.durationSeconds = flags.simDuration;
    if (flags.simExitCode !== undefined) sim.exitCode = flags.simExitCode;
    spec.simulation = sim;
  }
  mergeConstraintFlags(spec, file, flags);
  return spec;
}

/** validateJobSpec checks the merged spec with the API's schema; throws CliError listing every problem. */
export async function validateJobSpec(spec: Obj): Promise<JobSpecInput> {
  const [{ JobSpecSchema }, { issueErrors, validationDetail, extraFieldLines }] = await Promise.all([
    import('../model/schemas.js'),
    import('../model/validation-messages.js'),
  ]);
  const parsed = JobSpecSchema.safeParse(spec);
  if (!parsed.success) {
    // The same sentences the API's validation_failed problem carries.
    const errors = issueErrors(parsed.error.issues, 'the job spec');
    const detail = validationDetail('job spec', errors);
    throw new CliError(`${detail} (validation_failed)`, 1, extraFieldLines(detail, errors));
  }
  // The input (not the defaulted output) is sent, so the server applies its own defaults.
  return spec as JobSpecInput;
}

/** buildJobSpec: file (optional) + flags -> validated JobSpec input. */
export async function buildJobSpec(filePath: string | undefined, flags: JobFlags): Promise<JobSpecInput> {
  const file = filePath ? await readJobFile(filePath) : {};
  return await validateJobSpec(mergeJobSpec(file, flags));
}
