/**
 * Small helpers shared by the real drivers (local processes, Slurm): listener lists, atomic state
 * files, log chunks, job-id checks, the environment a job starts from, and Linux process identity.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { parseJson } from '../model/json.js';
import type { CheckpointObservation, LogChunk, NodeStateObservation, Observation } from './driver.js';

/** Listeners of one driver. A throwing listener does not stop the others. */
export class Listeners {
  private readonly observation: ((o: Observation) => void)[] = [];
  private readonly nodeState: ((o: NodeStateObservation) => void)[] = [];
  private readonly checkpoint: ((o: CheckpointObservation) => void)[] = [];

  onObservation(l: (o: Observation) => void): void {
    this.observation.push(l);
  }

  onNodeState(l: (o: NodeStateObservation) => void): void {
    this.nodeState.push(l);
  }

  emit(o: Observation): void {
    for (const l of this.observation) callSafely(l, o);
  }

  emitNodeState(o: NodeStateObservation): void {
    for (const l of this.nodeState) callSafely(l, o);
  }

  onCheckpoint(l: (o: CheckpointObservation) => void): void {
    this.checkpoint.push(l);
  }

  emitCheckpoint(o: CheckpointObservation): void {
    for (const l of this.checkpoint) callSafely(l, o);
  }
}

function callSafely<T>(l: (o: T) => void, o: T): void {
  try {
    l(o);
  } catch (err) {
    console.error('driver observation listener failed:', err);
  }
}

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Job ids become directory and Slurm job names: only a safe subset is accepted. */
export function checkJobId(id: string): void {
  if (!JOB_ID.test(id) || id.includes('..')) throw new Error(`job id not usable as a directory name: ${JSON.stringify(id)}`);
}

/** Environment variables that every job gets from the control plane's own environment, if set. */
export const DEFAULT_PASS_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ'];

/** baseEnv: only the named variables of this process, nothing else (no tokens of the control plane). */
export function baseEnv(names: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const n of names) {
    const v = process.env[n];
    if (v !== undefined) env[n] = v;
  }
  if (!env.PATH) env.PATH = '/usr/local/bin:/usr/bin:/bin';
  return env;
}

/** writeJsonAtomic replaces a file whole (write to a temporary name, then rename). */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** readJson: a driver file checked against its schema; null when absent, unreadable or not of that shape. */
export function readJson<S extends z.ZodType>(path: string, schema: S): z.infer<S> | null {
  try {
    return parseJson(readFileSync(path, 'utf8'), schema, path);
  } catch {
    return null;
  }
}

/** readExitCode: the number in a file written by a job wrapper, or null if absent or incomplete. */
export function readExitCode(path: string): number | null {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return /^\d+$/.test(t) ? Number(t) : null;
  } catch {
    return null;
  }
}

export const DEFAULT_LOG_CHUNK = 1 << 20;

/** readLogChunk reads up to maxBytes of a log from offset; `ended` says whether the writer is done. */
export function readLogChunk(path: string, offset: number, maxBytes: number, ended: boolean): LogChunk | null {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return null;
  }
  const start = Math.max(0, Math.min(Math.floor(offset), size));
  const len = Math.max(0, Math.min(maxBytes, size - start));
  const data = new Uint8Array(len);
  if (len > 0) {
    const fd = openSync(path, 'r');
    try {
      let got = 0;
      while (got < len) {
        const n = readSync(fd, data, got, len - got, start + got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  const nextOffset = start + len;
  return { data, offset: start, nextOffset, eof: ended && nextOffset >= size };
}

/** raceTimeout: p, or nothing after ms — whichever comes first; the timer does not outlive p. */
export function raceTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((r) => {
    timer = setTimeout(r, ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- process identity (Linux /proc)

/** The kernel's boot id: a pid recorded under another boot is certainly not the same process. */
export function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

export interface ProcStat {
  state: string;
  pgid: number;
  /** Start time in clock ticks after boot: with the pid, it names one process for this boot. */
  startTicks: number;
}

/** procStat reads /proc/<pid>/stat; null when the process does not exist (or no /proc). */
export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 5 is pgrp, field 22 is starttime.
  return { state: rest[0], pgid: Number(rest[2]), startTicks: Number(rest[19]) };
}

export function hasProcFs(): boolean {
  return procStat(process.pid) !== null;
}

/**
 * isSameProcess: pid is alive (not a zombie) and is the process recorded earlier (same start time and
 * boot). Without /proc it falls back to a plain existence check.
 */
export function isSameProcess(pid: number, startTicks: number | null, boot: string | null): boolean {
  if (!hasProcFs()) return pidExists(pid);
  if (boot && bootId() !== boot) return false;
  const st = procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTicks === null || st.startTicks === startTicks;
}

/** groupAlive: some live, non-zombie process is in process group pgid. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (!hasProcFs()) return true;
  // kill(0) also succeeds when only zombies are left; look for a live member.
  for (const pid of readdirNumbers('/proc')) {
    const st = procStat(pid);
    if (st && st.pgid === pgid && st.state !== 'Z' && st.state !== 'X') return true;
  }
  return false;
}

function readdirNumbers(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((e) => /^\d+$/.test(e)).map(Number);
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** signalGroup sends sig to every process in group pgid; false when the group is gone. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- one directory per attempt

/**
 * runDir: the directory of attempt K of a job (`<jobDir>/attempt-<K>`), so a job started again after
 * a requeue never meets the files of its earlier run. Before attempts had directories, a job's only
 * run lived in the job directory itself (it holds `marker`, e.g. state.json): that is attempt 1.
 */
export function runDir(jobDir: string, attempt: number, marker: string): string {
  const dir = join(jobDir, `attempt-${attempt}`);
  if (attempt === 1 && !existsSync(dir) && existsSync(join(jobDir, marker))) return jobDir;
  return dir;
}

/** runsIn: the runs a job directory holds, in attempt order (the old layout as attempt 1). */
export function runsIn(jobDir: string, marker: string): { attempt: number; dir: string }[] {
  let names: string[];
  try {
    names = readdirSync(jobDir);
  } catch {
    return [];
  }
  const runs: { attempt: number; dir: string }[] = [];
  for (const n of names) {
    const m = /^attempt-([1-9]\d{0,8})$/.exec(n);
    if (m) runs.push({ attempt: Number(m[1]), dir: join(jobDir, n) });
  }
  if (!runs.some((r) => r.attempt === 1) && names.includes(marker)) runs.push({ attempt: 1, dir: jobDir });
  return runs.sort((a, b) => a.attempt - b.attempt);
}
