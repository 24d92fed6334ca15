/** Shared helpers for the driver tests: a fake nvidia-smi, jobs, and an observation recorder. */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
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
