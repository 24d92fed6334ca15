/** Shared helpers for the driver tests: a fake nvidia-smi, jobs, and an observation recorder. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DriverJob, ExecutionDriver, NodeStateObservation, Observation } from '../../src/drivers/driver.js';
import type { NodeAllocation } from '../../src/model/job.js';
import type { JobSpec } from '../../src/model/schemas.js';

/** The repository root, from either test/drivers (tsx) or dist/test/drivers (compiled). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('repository root not found');
}

export interface FakeGpu {
  index: number;
  uuid: string;
  name: string;
  memoryMiB: number;
}

export function fakeGpus(n: number, name = 'NVIDIA H100 80GB HBM3'): FakeGpu[] {
  return Array.from({ length: n }, (_, i) => ({
    index: i,
    uuid: `GPU-${String(i).padStart(8, '0')}-fake-4000-8000-${String(i).padStart(12, '0')}`,
    name,
    memoryMiB: 81559,
  }));
}

/**
 * writeFakeNvidiaSmi puts an `nvidia-smi` stand-in into dir (put dir first on PATH). mode:
 * 'gpus' answers the CSV query like the real one; 'none' says "No devices were found" (exit 6);
 * 'broken' fails like a machine whose driver is not loaded (exit 9).
 */
export function writeFakeNvidiaSmi(
  dir: string,
  mode: 'gpus' | 'none' | 'broken',
  gpus: FakeGpu[] = [],
  /** MIG instances `-L` lists under their GPU (as a real nvidia-smi on a GPU in MIG mode). */
  migs: { gpu: number; profile: string; uuid: string }[] = [],
): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'nvidia-smi');
  const rows = gpus.map(
    (g) =>
      `${g.index}, ${g.uuid}, ${g.name}, ${g.memoryMiB}, 00000000:${(0x18 + g.index * 0x10).toString(16).toUpperCase()}:00.0, 570.133.20`,
  );
  const listLines = gpus.flatMap((g) => [
    `GPU ${g.index}: ${g.name} (UUID: ${g.uuid})`,
    ...migs.filter((m) => m.gpu === g.index).map((m, k) => `  MIG ${m.profile.padEnd(11)} Device  ${k}: (UUID: ${m.uuid})`),
  ]);
  const body =
    mode === 'gpus'
      ? `case "$*" in
  *--query-gpu=*) printf '%s\\n' ${rows.map((r) => `'${r}'`).join(' ')} ;;
  -L) printf '%s\\n' ${listLines.map((r) => `'${r}'`).join(' ')} ;;
  *) echo "fake nvidia-smi: ${gpus.length} GPUs" ;;
esac
exit 0`
      : mode === 'none'
        ? 'echo "No devices were found"\nexit 6'
        : `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running." >&2\nexit 9`;
  writeFileSync(path, `#!/bin/sh\n# fake nvidia-smi for gigafab's driver tests\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

export function jobSpec(command: string[], over: Partial<JobSpec> = {}): JobSpec {
  return {
    name: 'test',
    project: 'test-project',
    gpuType: 'any',
    gpusPerNode: 1,
    nodes: 1,
    command,
    maxRuntimeSeconds: 3600,
    priorityClass: 'normal',
    labels: {},
    ...over,
  };
}

export function driverJob(
  id: string,
  command: string[],
  nodes: NodeAllocation[],
  over: Partial<JobSpec> = {},
  secrets?: Record<string, string>,
): DriverJob {
  return {
    id,
    spec: jobSpec(command, { gpusPerNode: nodes[0]?.gpus.length || 1, nodes: nodes.length, ...over }),
    placement: { site: 'test-site', gpuType: 'H100', nodes },
    startedAt: Date.now(),
    secrets,
  };
}

let seq = 0;
/** uniqueId: job ids unique across test runs on one machine (Slurm keeps old jobs in squeue). */
export function uniqueId(prefix: string): string {
  seq++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq}`;
}

/** Recorder keeps every observation of a driver and lets a test wait for one. */
export class Recorder {
  readonly all: Observation[] = [];
  readonly nodes: NodeStateObservation[] = [];
  private waiters: (() => void)[] = [];

  constructor(driver: ExecutionDriver) {
    driver.onObservation((o) => {
      this.all.push(o);
      this.wake();
    });
    driver.onNodeState?.((o) => {
      this.nodes.push(o);
      this.wake();
    });
  }

  of(jobId: string): Observation[] {
    return this.all.filter((o) => o.jobId === jobId);
  }

  async started(jobId: string, timeoutMs = 30_000): Promise<Extract<Observation, { type: 'started' }>> {
    const o = await this.waitFor((x) => x.jobId === jobId && x.type === 'started', timeoutMs, `started of ${jobId}`);
    if (o.type !== 'started') throw new Error('unreachable');
    return o;
  }

  async exited(jobId: string, timeoutMs = 30_000): Promise<Extract<Observation, { type: 'exited' }>> {
    const o = await this.waitFor((x) => x.jobId === jobId && x.type === 'exited', timeoutMs, `exit of ${jobId}`);
    if (o.type !== 'exited') throw new Error('unreachable');
    return o;
  }

  async waitFor(pred: (o: Observation) => boolean, timeoutMs: number, what: string): Promise<Observation> {
    return this.until(() => this.all.find(pred), timeoutMs, what);
  }

  async nodeState(pred: (o: NodeStateObservation) => boolean, timeoutMs: number, what: string): Promise<NodeStateObservation> {
    return this.until(() => this.nodes.find(pred), timeoutMs, what);
  }

  private async until<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = find();
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw ${JSON.stringify(this.all.slice(-5))}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** readAllLogs pulls a job's whole log through the driver's logs() (as `job logs` would). */
export async function readAllLogs(driver: ExecutionDriver, jobId: string): Promise<string> {
  if (!driver.logs) throw new Error(`${driver.name} has no logs()`);
  const decoder = new TextDecoder();
  let offset = 0;
  let text = '';
  for (;;) {
    const c = await driver.logs(jobId, offset, 4096);
    if (!c) return text;
    text += decoder.decode(c.data, { stream: true });
    if (c.nextOffset === offset) return text + decoder.decode();
    offset = c.nextOffset;
  }
}

export async function eventually(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** State of the stateful nvidia-smi stand-in: per GPU its MIG mode, instances and whether a process uses it. */
export interface FakeMigState {
  gpus: {
    index: number;
    uuid: string;
    name: string;
    memoryMiB: number;
    mig: boolean;
    /** Processes running on the GPU (or its instances): -mig and -dci/-dgi refuse, as the real tool does. */
    busy: boolean;
    instances: { profile: string; uuid: string; gi: number }[];
  }[];
  /** Every call's arguments, in order. */
  calls: string[][];
}

/**
 * writeStatefulNvidiaSmi: an `nvidia-smi` stand-in that keeps MIG state in `<dir>/nvidia-smi.json`
 * and behaves like the real tool for what the local driver uses: the discovery query, `-L` (MIG
 * instances under their GPU), `--query-gpu=mig.mode.current`, `-i N -mig 0|1` (refused while the GPU
 * is busy or, for 0, while instances exist), `mig -i N -cgi P -C` (refused without MIG mode or
 * beyond 7 compute slices), `mig -i N -dci` / `-dgi` (refused while busy). `Ng.…` profiles take N slices.
 */
export function writeStatefulNvidiaSmi(
  dir: string,
  gpus: FakeGpu[],
): { path: string; read: () => FakeMigState; write: (s: FakeMigState) => void } {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'nvidia-smi');
  const stateFile = join(dir, 'nvidia-smi.json');
  const initial: FakeMigState = { gpus: gpus.map((g) => ({ ...g, mig: false, busy: false, instances: [] })), calls: [] };
  writeFileSync(stateFile, JSON.stringify(initial));
  const script = `#!${process.execPath}
// stateful fake nvidia-smi for gigafab's driver tests (MIG mode and instances kept in a file)
const fs = require('node:fs');
const file = ${JSON.stringify(stateFile)};
const st = JSON.parse(fs.readFileSync(file, 'utf8'));
const a = process.argv.slice(2);
st.calls.push(a);
const save = () => fs.writeFileSync(file, JSON.stringify(st));
const out = (s) => process.stdout.write(s + '\\n');
const fail = (code, s) => { save(); process.stderr.write(s + '\\n'); process.exit(code); };
const opt = (k) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : undefined; };
const gpuArg = opt('-i');
const g = gpuArg === undefined ? undefined : st.gpus.find((x) => x.index === Number(gpuArg));
if (gpuArg !== undefined && !g) fail(6, 'No devices were found');
const q = a.find((x) => x.startsWith('--query-gpu='));
if (q) {
  const fields = q.slice('--query-gpu='.length).split(',');
  for (const x of g ? [g] : st.gpus) {
    out(fields.map((f) => ({ index: x.index, uuid: x.uuid, name: x.name, 'memory.total': x.memoryMiB, 'pci.bus_id': '00000000:' + (0x18 + x.index * 0x10).toString(16).toUpperCase() + ':00.0', driver_version: '570.133.20', 'mig.mode.current': x.mig ? 'Enabled' : 'Disabled' })[f]).join(', '));
  }
} else if (a[0] === '-L') {
  for (const x of st.gpus) {
    out('GPU ' + x.index + ': ' + x.name + ' (UUID: ' + x.uuid + ')');
    x.instances.forEach((m, k) => out('  MIG ' + m.profile.padEnd(11) + ' Device  ' + k + ': (UUID: ' + m.uuid + ')'));
  }
} else if (a[0] === '-i' && a[2] === '-mig') {
  const on = a[3] === '1';
  if (g.busy) fail(1, 'Unable to ' + (on ? 'enable' : 'disable') + ' MIG Mode for GPU ' + g.index + ': In use by another client');
  if (!on && g.instances.length > 0) fail(1, 'Unable to disable MIG Mode for GPU ' + g.index + ': In use by another client (GPU instances exist)');
  g.mig = on;
  out((on ? 'Enabled' : 'Disabled') + ' MIG Mode for GPU ' + g.index);
  out('All done.');
} else if (a[0] === 'mig' && a.includes('-cgi')) {
  if (!g.mig) fail(1, 'Unable to create a GPU instance on GPU ' + g.index + ': Not Supported (MIG mode is disabled)');
  const profile = opt('-cgi');
  const slices = (p) => Number(/^(\\d+)g\\./.exec(p)?.[1] ?? 99);
  const used = g.instances.reduce((s, m) => s + slices(m.profile), 0);
  if (used + slices(profile) > 7) fail(1, 'Unable to create a GPU instance on GPU ' + g.index + ' using profile ' + profile + ': Insufficient Resources');
  const gi = 1 + g.instances.reduce((m, x) => Math.max(m, x.gi), 0);
  const hex = (n) => n.toString(16).padStart(8, '0');
  g.instances.push({ profile, gi, uuid: 'MIG-' + hex(g.index * 1000 + gi) + '-fake-4000-8000-' + String(gi).padStart(12, '0') });
  out('Successfully created GPU instance ID ' + gi + ' on GPU ' + g.index + ' using profile MIG ' + profile);
  out('Successfully created compute instance ID 0 on GPU ' + g.index + ' GPU instance ID ' + gi + ' using profile MIG ' + profile);
} else if (a[0] === 'mig' && (a.includes('-dci') || a.includes('-dgi'))) {
  if (g.busy) fail(1, 'Unable to destroy instances on GPU ' + g.index + ': In use by another client');
  if (g.instances.length === 0) fail(6, 'No ' + (a.includes('-dci') ? 'compute' : 'GPU') + ' instances found');
  if (a.includes('-dgi')) {
    for (const m of g.instances) out('Successfully destroyed GPU instance ID ' + m.gi + ' from GPU ' + g.index);
    g.instances = [];
  } else for (const m of g.instances) out('Successfully destroyed compute instance ID 0 from GPU ' + g.index + ' GPU instance ID ' + m.gi);
} else {
  fail(2, 'fake nvidia-smi: unsupported arguments: ' + a.join(' '));
}
save();
`;
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return {
    path,
    read: () => JSON.parse(readFileSync(stateFile, 'utf8')) as FakeMigState,
    write: (s) => writeFileSync(stateFile, JSON.stringify(s)),
  };
}
