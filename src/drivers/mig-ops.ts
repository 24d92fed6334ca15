/**
 * MIG operations on one machine through `nvidia-smi` (the same binary, looked up on the same PATH,
 * as gpu-discovery.ts), following NVIDIA's MIG user guide, "Getting Started with MIG"
 * (https://docs.nvidia.com/datacenter/tesla/mig-user-guide/): 10.2 Enable MIG Mode
 * (`nvidia-smi -i <gpu> -mig 1`), 10.4 Creating GPU Instances (`nvidia-smi mig -i <gpu> -cgi
 * <profile> -C`: a GPU instance and its default compute instance), 10.6 Destroying GPU Instances
 * (`nvidia-smi mig -i <gpu> -dci`, then `-dgi`; then `nvidia-smi -i <gpu> -mig 0`).
 *
 * Each function resolves to null when done, or to a sentence saying what nvidia-smi refused (the
 * start then ends with it): the GPU busy, a mode change pending a GPU reset, no room for a profile.
 */
import { execFile } from 'node:child_process';
import type { DiscoverOptions } from './gpu-discovery.js';

interface Run {
  ok: boolean;
  out: string;
}

function nvidiaSmi(args: string[], opts: DiscoverOptions): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const out = `${stdout}\n${stderr}`.trim().split('\n').filter(Boolean).join('; ');
        resolve({ ok: !err, out: out || (err ? err.message : '') });
      },
    );
  });
}

/** migModeEnabled: whether MIG mode is on now (`mig.mode.current`), or a sentence when nvidia-smi cannot say. */
export async function migModeEnabled(gpu: number, opts: DiscoverOptions = {}): Promise<boolean | string> {
  const r = await nvidiaSmi(['-i', String(gpu), '--query-gpu=mig.mode.current', '--format=csv,noheader'], opts);
  if (!r.ok) return `nvidia-smi could not read the MIG mode of GPU ${gpu}: ${r.out}`;
  return /^enabled/i.test(r.out.trim());
}

/** enableMig: MIG mode on; a sentence when refused or when it waits for a GPU reset (pending). */
export async function enableMig(gpu: number, opts: DiscoverOptions = {}): Promise<string | null> {
  const r = await nvidiaSmi(['-i', String(gpu), '-mig', '1'], opts);
  if (!r.ok) return `nvidia-smi -i ${gpu} -mig 1 failed: ${r.out}`;
  const on = await migModeEnabled(gpu, opts);
  if (typeof on === 'string') return on;
  return on ? null : `MIG mode of GPU ${gpu} is pending (a GPU reset is needed before it takes effect): ${r.out}`;
}

/** createInstance: one GPU instance of `profile` with its compute instance. */
export async function createInstance(gpu: number, profile: string, opts: DiscoverOptions = {}): Promise<string | null> {
  const r = await nvidiaSmi(['mig', '-i', String(gpu), '-cgi', profile, '-C'], opts);
  return r.ok ? null : `nvidia-smi mig -i ${gpu} -cgi ${profile} -C failed: ${r.out}`;
}

/**
 * destroyInstances: every compute instance, then every GPU instance of the GPU destroyed (nvidia-smi
 * refuses while any is in use). "No … instances found" is not a failure: nothing to destroy.
 */
export async function destroyInstances(gpu: number, opts: DiscoverOptions = {}): Promise<string | null> {
  const steps: string[][] = [
    ['mig', '-i', String(gpu), '-dci'],
    ['mig', '-i', String(gpu), '-dgi'],
  ];
  for (const args of steps) {
    const r = await nvidiaSmi(args, opts);
    if (!r.ok && !/not found|no .*instances? found/i.test(r.out)) return `nvidia-smi ${args.join(' ')} failed: ${r.out}`;
  }
  return null;
}

/** noRoom: nvidia-smi's refusal to cut an instance for lack of free slices. */
export const noRoom = (refusal: string): boolean => /insufficient resources/i.test(refusal);

/**
 * disableMig: back to a whole GPU: every compute instance, then every GPU instance destroyed, then
 * MIG mode off. Stops at the first refusal (e.g. an instance in use), leaving the GPU in MIG mode.
 */
export async function disableMig(gpu: number, opts: DiscoverOptions = {}): Promise<string | null> {
  const destroyed = await destroyInstances(gpu, opts);
  if (destroyed) return destroyed;
  const r = await nvidiaSmi(['-i', String(gpu), '-mig', '0'], opts);
  if (!r.ok) return `nvidia-smi -i ${gpu} -mig 0 failed: ${r.out}`;
  const on = await migModeEnabled(gpu, opts);
  if (typeof on === 'string') return on;
  return on ? `MIG mode of GPU ${gpu} is still on (a GPU reset is needed before it takes effect): ${r.out}` : null;
}
