/**
 * Everything that depends on the Slurm version, for Slurm 22.05 (Debian 12's slurm-wlm 22.05.8):
 * the sbatch command line and batch script, scancel arguments, and the readers of `squeue --json`,
 * `sinfo --json` and text `sacct`. A driver for another Slurm release swaps this one module.
 *
 * 22.05 facts this relies on (measured, see scripts/slurm/ and the tests):
 * - `squeue --json` ignores -j/-t/-n filters and returns every job: filter here. Times are epoch
 *   seconds; `exit_code` is the raw wait status (768 = exit 3; 15 = killed by SIGTERM).
 * - `scontrol ... --json` does not exist in 22.05; `sinfo --json` lists nodes with `state`
 *   ("idle", "down", ...) and `state_flags` (["DRAIN"], ["NOT_RESPONDING"], ...).
 * - `sacct --json` reports exit_code SUCCESS even for failed jobs: use text sacct (`ExitCode` "3:0").
 * - `scancel --signal=TERM <id>` signals the job's steps (the srun tasks), not the batch shell, so a
 *   task can checkpoint; `--full` would make srun abort the step at once. A pending job ignores
 *   signals ("Job can not be altered now"): plain scancel removes it.
 * - Slurm cannot be told which GPU indices to give a job (`--gres=gpu:N` is a count), only how many
 *   on which nodes; the indices it chose are in squeue's `gres_detail` ("gpu:4(IDX:0-3)").
 */
import type { NodeState } from '../../model/fleet.js';
import type { ExitOutcome } from '../driver.js';

export const SLURM_SERIES = '22.05';

// ---------------------------------------------------------------- submission

export interface SubmitRequest {
  /** Slurm job name: gigafab-<id>. */
  jobName: string;
  /** Tag identifying the gigafab control plane that owns the job (orphan detection). */
  comment: string;
  /** Slurm node names, one per placed node. */
  nodes: string[];
  gpusPerNode: number;
  /** A GPU share's gres (`gpu:1g.23gb:1`, `shard:25`) instead of `gpu:<gpusPerNode>`. */
  gres?: string;
  timeLimitMinutes: number;
  partition?: string;
  account?: string;
  qos?: string;
  workDir: string;
  outputPath: string;
  scriptPath: string;
  exitFile: string;
  command: string[];
  extraArgs?: string[];
}

/** sbatch's arguments. The job's environment is sbatch's own (--export=ALL), set by the caller. */
export function sbatchArgs(r: SubmitRequest): string[] {
  const args = [
    '--parsable',
    `--job-name=${r.jobName}`,
    `--comment=${r.comment}`,
    `--nodes=${r.nodes.length}`,
    `--nodelist=${r.nodes.join(',')}`,
    '--ntasks-per-node=1',
    `--time=${r.timeLimitMinutes}`,
    `--output=${r.outputPath}`,
    '--open-mode=append',
    `--chdir=${r.workDir}`,
    '--no-requeue',
    '--export=ALL',
  ];
  if (r.gres) args.push(`--gres=${r.gres}`);
  else if (r.gpusPerNode > 0) args.push(`--gres=gpu:${r.gpusPerNode}`);
  if (r.partition) args.push(`--partition=${r.partition}`);
  if (r.account) args.push(`--account=${r.account}`);
  if (r.qos) args.push(`--qos=${r.qos}`);
  args.push(...(r.extraArgs ?? []), r.scriptPath, ...r.command);
  return args;
}

/** timeLimitMinutes: Slurm's --time is in minutes; the limit is rounded up (the driver enforces seconds). */
export function timeLimitMinutes(maxRuntimeSeconds: number): number {
  return Math.max(1, Math.ceil(maxRuntimeSeconds / 60));
}

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The batch script: the command (its arguments) once per node through srun, so each node's task
 * gets that node's GPUs in CUDA_VISIBLE_DEVICES. With --kill-on-bad-exit the first failing task ends
 * the others, and srun would report the highest status (often the others' 143); so each task
 * records a failure in firstFailure, first writer wins (noclobber), and that is the job's status.
 * The shells defer SIGTERM until their command has ended (the command decides how to stop); the
 * batch shell records the status in exitFile and exits with it.
 */
export function batchScript(jobId: string, exitFile: string, firstFailureFile = `${exitFile}.first-failure`): string {
  const f = shQuote(exitFile);
  const tmp = shQuote(`${exitFile}.tmp`);
  const first = shQuote(firstFailureFile);
  const task = `trap ':' TERM INT; "$@"; c=$?; if [ "$c" -ne 0 ]; then (set -C; printf '%s\\n' "$c" > "$0") 2>/dev/null; fi; exit "$c"`;
  return [
    '#!/bin/sh',
    `# gigafab job ${jobId}: written by gigafab's Slurm driver (Slurm ${SLURM_SERIES}).`,
    "trap ':' TERM INT",
    'export CUDA_DEVICE_ORDER=PCI_BUS_ID',
    `rm -f ${first}`,
    `srun --ntasks-per-node=1 --kill-on-bad-exit=1 --export=ALL sh -c ${shQuote(task)} ${first} "$@"`,
    'code=$?',
    `if [ "$code" -ne 0 ] && [ -s ${first} ]; then code=$(cat ${first}); fi`,
    `printf '%s\\n' "$code" > ${tmp} && mv -f ${tmp} ${f}`,
    'exit "$code"',
    '',
  ].join('\n');
}

/** parseSbatchParsable: `sbatch --parsable` prints "<id>" or "<id>;<cluster>". */
export function parseSbatchParsable(stdout: string): string {
  const line = stdout.trim().split('\n').pop() ?? '';
  const id = line.split(';')[0].trim();
  if (!/^\d+(_\d+)?$/.test(id)) throw new Error(`sbatch printed no job id: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  return id;
}

export const SCANCEL = {
  /** Ask the running tasks to stop (SIGTERM to the steps, not the batch shell). */
  term: (id: string) => ['--signal=TERM', id],
  /** After the grace: SIGKILL to everything of the job, batch shell included. */
  kill: (id: string) => ['--signal=KILL', '--full', id],
  /** End the job (pending jobs; and the final word after a kill). */
  cancel: (id: string) => [id],
};

export const SQUEUE_ARGS = ['--json'];

/**
 * Text squeue, the driver's poll: ~10x cheaper than --json in 22.05 (which serialises every job in
 * the controller; 0.15 s for 120 jobs, 0.5 s for 400 under load, against ~15 ms), and it honours -j.
 * exit_code is the raw wait status here too. One unknown id alone makes squeue fail with "Invalid
 * job id specified" (several unknown ids give an empty answer): isUnknownJobError.
 */
const SQUEUE_TEXT_FIELDS = 'JobID:|,Name:|,State:|,Reason:|,exit_code:|,StartTime:|,EndTime:|,NodeList:|,Comment:|';
export function squeueTextArgs(slurmJobIds?: string[]): string[] {
  const args = ['--noheader', '--states=all', `--Format=${SQUEUE_TEXT_FIELDS}`];
  if (slurmJobIds) args.push(`--jobs=${slurmJobIds.join(',')}`);
  return args;
}

export function isUnknownJobError(stderr: string): boolean {
  return /Invalid job id specified/i.test(stderr);
}

/** parseSqueueText reads squeueTextArgs' output. Times are local (squeue prints the client's time zone). */
export function parseSqueueText(text: string): SlurmJobRecord[] {
  const out: SlurmJobRecord[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('|');
    if (f.length < 9 || !/^\d+(_\d+)?$/.test(f[0].trim())) continue;
    // Name and comment may themselves hold '|' (other users' jobs): take the fixed fields from the ends.
    const n = f.length;
    const comment = f[n - 2].trim();
    const nodeList = f[n - 3].trim();
    const status = Number(f[n - 6].trim());
    out.push({
      slurmJobId: f[0].trim(),
      name: f
        .slice(1, n - 8)
        .join('|')
        .trim(),
      state: baseState(f[n - 8].trim()),
      reason: f[n - 7].trim(),
      exitStatus: Number.isFinite(status) ? status : null,
      startTime: parseTime(f[n - 5].trim()),
      endTime: parseTime(f[n - 4].trim()),
      nodes: nodeList && nodeList !== '(null)' && !nodeList.startsWith('(') ? expandHostlist(nodeList) : [],
      gpus: new Map(),
      comment: comment === '(null)' ? '' : comment,
    });
  }
  return out;
}

/** `scontrol show job -d -o <id>`: one line with "Nodes=<hostlist> ... GRES=gpu:N(IDX:...)" per node group. */
export function scontrolShowJobArgs(slurmJobId: string): string[] {
  return ['show', 'job', '--details', '--oneliner', slurmJobId];
}

export function parseScontrolGpus(text: string): Map<string, number[]> {
  const gpus = new Map<string, number[]>();
  let current: string[] = [];
  for (const tok of text.split(/\s+/)) {
    if (tok.startsWith('Nodes=')) current = expandHostlist(tok.slice('Nodes='.length));
    else if (tok.startsWith('GRES=') && current.length) {
      const idx = parseGresIndices(tok);
      if (idx) for (const n of current) gpus.set(n, idx);
      current = [];
    }
  }
  return gpus;
}
export const SINFO_ARGS = ['--json'];
export function sacctArgs(id: string): string[] {
  return ['-n', '-P', '-X', '-j', id, '-o', 'JobID,JobName,State,ExitCode,Start,End'];
}

/**
 * parseSacctEnergy: the joules Slurm measured for a job (ConsumedEnergyRaw, by the cluster's
 * acct_gather_energy plugin: IPMI, RAPL, GPU; empty or 0 where it has none), from `sacct -P` lines of
 * the job and its steps with JobID first and ConsumedEnergyRaw second (sacctAfterEndArgs): the joules of the job's allocation line (`4711|…`), else the largest of its
 * steps' (the `extern` step spans the whole allocation; steps overlap, so they are not added), or
 * null when nothing was measured: empty, 0, or Slurm's NO_VAL64 (18446744073709551614) and other
 * values past 2^53, which no job reaches (10 kW for a year is 3.2e11 J).
 */
export function parseSacctEnergy(text: string, slurmJobId: string): number | null {
  let own: number | null = null;
  let steps: number | null = null;
  for (const line of text.split('\n')) {
    const [id, raw] = line.trim().split('|');
    if (!id || raw === undefined || !/^\d+$/.test(raw.trim())) continue;
    const joules = Number(raw.trim());
    if (joules <= 0 || joules > Number.MAX_SAFE_INTEGER) continue;
    if (id === slurmJobId) own = joules;
    else if (id.startsWith(`${slurmJobId}.`)) steps = Math.max(steps ?? 0, joules);
  }
  return own ?? steps;
}

/**
 * What the driver reads of a job once it ended (measureEnergy, reportRunTime): `sacct -P` of the job
 * and its steps, JobID, ConsumedEnergyRaw, Start and End. Run with TZ=UTC and SLURM_TIME_FORMAT=standard
 * (sacctAfterEndEnv), so the times are UTC: sacct prints them without a zone, in its own local time.
 */
export function sacctAfterEndArgs(id: string): string[] {
  return ['-n', '-P', '-j', id, '-o', 'JobID,ConsumedEnergyRaw,Start,End'];
}

/** The environment sacctAfterEndArgs is run with: its times in UTC, ISO 8601 without a zone. */
export const sacctAfterEndEnv = { TZ: 'UTC', SLURM_TIME_FORMAT: 'standard' } as const;

/** What sacct says of an ended job: its measured joules (parseSacctEnergy) and when its allocation started and ended. */
export interface SacctAfterEnd {
  energyJoules: number | null;
  /** Epoch ms of the allocation's Start and End; null when sacct has none (Unknown, None) or End is before Start. */
  ran: { start: number; end: number } | null;
}

/**
 * parseSacctAfterEnd reads sacctAfterEndArgs's lines (times in UTC). The run time is the allocation
 * line's (`4711|…`): its Start (when Slurm started the job, after any wait in its queue) and End; the
 * steps' lines are not used for it. A job that never started (Start `None`/`Unknown`) or has no End
 * yet reports no run time.
 */
export function parseSacctAfterEnd(text: string, slurmJobId: string): SacctAfterEnd {
  const energyJoules = parseSacctEnergy(text, slurmJobId);
  let ran: SacctAfterEnd['ran'] = null;
  for (const line of text.split('\n')) {
    const [id, , start, end] = line.trim().split('|');
    if (id !== slurmJobId) continue;
    const a = utcTime(start);
    const b = utcTime(end);
    if (a !== null && b !== null && b >= a) ran = { start: a, end: b };
  }
  return { energyJoules, ran };
}

/** utcTime: sacct's `2026-12-06T20:11:02` read as UTC (run with TZ=UTC); null for Unknown, None and the like. */
function utcTime(s: string | undefined): number | null {
  const v = s?.trim() ?? '';
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(v)) return null;
  const t = Date.parse(`${v}Z`);
  return Number.isFinite(t) ? t : null;
}

// ---------------------------------------------------------------- job records

export interface SlurmJobRecord {
  slurmJobId: string;
  name: string;
  /** Base state, upper case: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... */
  state: string;
  reason: string;
  /** Raw wait status (22.05 squeue), or null. */
  exitStatus: number | null;
  /** Epoch ms, null when not (yet) known. */
  startTime: number | null;
  endTime: number | null;
  /** Allocated Slurm node names, in allocation order. */
  nodes: string[];
  /** GPU indices per allocated node, from gres_detail, when Slurm reports them. */
  gpus: Map<string, number[]>;
  comment: string;
}

export type JobPhase = 'pending' | 'running' | 'ended';

const PENDING_STATES = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'CONFIGURING']);
const ENDED_STATES = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'BOOT_FAIL',
  'PREEMPTED',
  'DEADLINE',
  'OUT_OF_MEMORY',
  'SPECIAL_EXIT',
  'REVOKED',
]);

/** phaseOf: COMPLETING (still cleaning up) counts as running, so the final state is the one reported. */
export function phaseOf(state: string): JobPhase {
  if (ENDED_STATES.has(state)) return 'ended';
  if (PENDING_STATES.has(state)) return 'pending';
  return 'running'; // RUNNING, COMPLETING, SUSPENDED, STOPPED, SIGNALING, STAGE_OUT, RESIZING
}

/** decodeWaitStatus: a wait status as an exit code, 128+N for death by signal N. */
export function decodeWaitStatus(status: number): number {
  const sig = status & 0x7f;
  return sig === 0 ? (status >> 8) & 0xff : 128 + sig;
}

export interface EndedOutcome {
  outcome: ExitOutcome;
  exitCode: number | null;
  message: string;
}

/** endedOutcome maps a finished Slurm job to a gigafab outcome (before the driver's own stop intent). */
export function endedOutcome(r: SlurmJobRecord): EndedOutcome {
  const code = r.exitStatus === null ? null : decodeWaitStatus(r.exitStatus);
  const tail = `(Slurm job ${r.slurmJobId} ${r.state}${r.reason && r.reason !== 'None' ? `, ${r.reason}` : ''})`;
  switch (r.state) {
    case 'COMPLETED':
      return { outcome: 'completed', exitCode: code ?? 0, message: `exited with code ${code ?? 0} ${tail}` };
    case 'FAILED':
      // Exit 0 with FAILED: the launch itself failed (e.g. JobLaunchFailure); no command status.
      return code
        ? { outcome: 'completed', exitCode: code, message: `exited with code ${code} ${tail}` }
        : { outcome: 'completed', exitCode: null, message: `failed without an exit code ${tail}` };
    case 'OUT_OF_MEMORY':
      return { outcome: 'completed', exitCode: code || 137, message: `ran out of memory ${tail}` };
    case 'TIMEOUT':
    case 'DEADLINE':
      return { outcome: 'timed-out', exitCode: code, message: `Slurm's time limit was reached ${tail}` };
    case 'CANCELLED':
      return { outcome: 'cancelled', exitCode: code, message: `cancelled in Slurm ${tail}` };
    case 'NODE_FAIL':
    case 'BOOT_FAIL':
      return { outcome: 'lost', exitCode: null, message: `a node failed ${tail}` };
    default:
      return { outcome: 'lost', exitCode: code, message: `ended in Slurm without finishing ${tail}` };
  }
}

export interface SqueueResult {
  /** Slurm's release as squeue reports it (meta.Slurm.release), e.g. "22.05.8". */
  release: string | null;
  jobs: SlurmJobRecord[];
}

/** parseSqueueJson reads `squeue --json` (22.05: openapi/v0.0.38). Every job, whatever its name. */
export function parseSqueueJson(text: string): SqueueResult {
  const doc = asObject(JSON.parse(text), 'squeue --json');
  const meta = isObject(doc.meta) && isObject(doc.meta.Slurm) ? doc.meta.Slurm : null;
  const release = meta && typeof meta.release === 'string' ? meta.release : null;
  const errors = doc.errors;
  if (Array.isArray(errors) && errors.length > 0) throw new Error(`squeue --json: ${JSON.stringify(errors[0]).slice(0, 300)}`);
  const jobs = doc.jobs;
  if (!Array.isArray(jobs)) throw new Error('squeue --json: no "jobs" array');
  const out: SlurmJobRecord[] = [];
  for (const j of jobs) {
    if (!isObject(j)) continue;
    const id = num(j.job_id);
    if (id === null) continue;
    const alloc =
      isObject(j.job_resources) && Array.isArray(j.job_resources.allocated_nodes) ? j.job_resources.allocated_nodes : [];
    const nodes: string[] = [];
    for (const n of alloc) if (isObject(n) && typeof n.nodename === 'string') nodes.push(n.nodename);
    if (nodes.length === 0 && typeof j.nodes === 'string' && j.nodes) nodes.push(...expandHostlist(j.nodes));
    const gres = Array.isArray(j.gres_detail) ? j.gres_detail.filter((g): g is string => typeof g === 'string') : [];
    const gpus = new Map<string, number[]>();
    gres.forEach((g, i) => {
      const idx = parseGresIndices(g);
      if (idx && nodes[i]) gpus.set(nodes[i], idx);
    });
    const start = num(j.start_time);
    const end = num(j.end_time);
    out.push({
      slurmJobId: String(id),
      name: str(j.name),
      state: baseState(j.job_state),
      reason: str(j.state_reason),
      exitStatus: num(j.exit_code),
      startTime: start ? start * 1000 : null,
      endTime: end ? end * 1000 : null,
      nodes,
      gpus,
      comment: str(j.comment),
    });
  }
  return { release, jobs: out };
}

/** Whether a reported release is the one this module was written for. */
export function isSupportedRelease(release: string | null): boolean {
  return release === null || release.startsWith(`${SLURM_SERIES}.`) || release === SLURM_SERIES;
}

/** parseGresIndices("gpu:4(IDX:0-1,3,5)") → [0,1,3,5]; null when there is no index list. */
export function parseGresIndices(detail: string): number[] | null {
  const m = /\(IDX:([0-9,-]+)\)/.exec(detail);
  if (!m) return null;
  return expandRanges(m[1]);
}

function expandRanges(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-');
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo || hi - lo > 100_000) continue;
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

/** expandHostlist("gpu[01-03,07],cpu1") → gpu01 gpu02 gpu03 gpu07 cpu1 (one bracket group per name). */
export function expandHostlist(expr: string): string[] {
  const out: string[] = [];
  // Split on commas outside brackets.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of expr) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) parts.push(cur);
  for (const p of parts) {
    const m = /^(.*)\[([^\]]+)\](.*)$/.exec(p);
    if (!m) {
      out.push(p);
      continue;
    }
    for (const r of m[2].split(',')) {
      const [a, b] = r.split('-');
      if (b === undefined) {
        out.push(`${m[1]}${a}${m[3]}`);
        continue;
      }
      const width = a.length;
      for (let i = Number(a); i <= Number(b); i++) out.push(`${m[1]}${String(i).padStart(width, '0')}${m[3]}`);
    }
  }
  return out;
}

/** parseSacctText reads one line of `sacct -n -P -X -o JobID,JobName,State,ExitCode,Start,End`. */
export function parseSacctText(text: string): SlurmJobRecord | null {
  const line = text.split('\n').find((l) => l.trim());
  if (!line) return null;
  const [id, name, state, exit, start, end] = line.split('|');
  if (!id || !state) return null;
  // ExitCode is "<code>:<signal>".
  const [code, sig] = (exit ?? '').split(':').map(Number);
  const status = Number.isFinite(sig) && sig > 0 ? sig : Number.isFinite(code) ? (code & 0xff) << 8 : null;
  return {
    slurmJobId: id,
    name: name ?? '',
    state: baseState(state),
    reason: '',
    exitStatus: status,
    startTime: parseTime(start),
    endTime: parseTime(end),
    nodes: [],
    gpus: new Map(),
    comment: '',
  };
}

function parseTime(s: string | undefined): number | null {
  if (!s || !/^\d{4}-\d\d-\d\dT/.test(s)) return null; // Unknown, None, N/A, NONE
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/** "CANCELLED by 0" (sacct) or "CANCELLED" → CANCELLED; arrays (newer JSON) → first entry. */
function baseState(v: unknown): string {
  const s = Array.isArray(v) ? str(v[0]) : str(v);
  return s.split(' ')[0].toUpperCase();
}

// ---------------------------------------------------------------- nodes

export interface SlurmNodeRecord {
  name: string;
  state: string;
  flags: string[];
  reason: string;
  /** Epoch ms of the reason, or null. */
  reasonAt: number | null;
}

export function parseSinfoJson(text: string): SlurmNodeRecord[] {
  const doc = asObject(JSON.parse(text), 'sinfo --json');
  const nodes = doc.nodes;
  if (!Array.isArray(nodes)) throw new Error('sinfo --json: no "nodes" array');
  const seen = new Map<string, SlurmNodeRecord>();
  for (const n of nodes) {
    if (!isObject(n) || typeof n.name !== 'string') continue;
    const at = num(n.reason_changed_at);
    seen.set(n.name, {
      name: n.name,
      state: baseState(n.state),
      flags: Array.isArray(n.state_flags)
        ? n.state_flags.filter((f): f is string => typeof f === 'string').map((f) => f.toUpperCase())
        : [],
      reason: str(n.reason),
      reasonAt: at ? at * 1000 : null,
    });
  }
  return [...seen.values()];
}

const DOWN_FLAGS = new Set(['FAIL', 'INVALID_REG', 'POWERED_DOWN', 'POWERING_DOWN', 'POWER_DOWN']);
const DRAIN_FLAGS = new Set(['DRAIN', 'NOT_RESPONDING', 'MAINT', 'REBOOT_REQUESTED', 'REBOOT_ISSUED', 'POWERING_UP']);

/**
 * gigafabNodeState: down — Slurm cannot run anything there (DOWN, FAIL, UNKNOWN, FUTURE, powered
 * down); draining — running jobs continue but no new ones (DRAIN, NOT_RESPONDING, MAINT, reboot
 * pending); up — otherwise (idle, mixed, allocated, completing).
 */
export function gigafabNodeState(n: SlurmNodeRecord): { state: NodeState; reason: string } {
  const what = [n.state.toLowerCase(), ...n.flags.map((f) => f.toLowerCase())].join('+');
  const because = (s: string) => (n.reason ? `${s}: ${n.reason}` : s);
  if (['DOWN', 'UNKNOWN', 'FUTURE', 'ERROR', 'END'].includes(n.state) || n.flags.some((f) => DOWN_FLAGS.has(f))) {
    return { state: 'down', reason: because(`Slurm node ${n.name} is ${what}`) };
  }
  if (n.flags.some((f) => DRAIN_FLAGS.has(f))) return { state: 'draining', reason: because(`Slurm node ${n.name} is ${what}`) };
  return { state: 'up', reason: `Slurm node ${n.name} is ${what}` };
}

// ---------------------------------------------------------------- JSON helpers

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asObject(v: unknown, what: string): Obj {
  if (!isObject(v)) throw new Error(`${what}: not a JSON object`);
  return v;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** 22.05 gives plain numbers; later releases wrap them as {set, infinite, number}. */
function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (isObject(v) && v.set !== false && typeof v.number === 'number') return v.number;
  return null;
}
