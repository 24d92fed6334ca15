/**
 * GPU discovery on one machine through `nvidia-smi`, looked up on PATH (so a test can put a stand-in
 * script first on PATH). No NVML binding: nvidia-smi ships with every NVIDIA driver.
 */
import { execFile } from 'node:child_process';

export interface GpuInfo {
  /** nvidia-smi's index (PCI bus order, which is CUDA's order under CUDA_DEVICE_ORDER=PCI_BUS_ID). */
  index: number;
  uuid: string;
  name: string;
  memoryMiB: number;
  pciBusId: string;
  driverVersion: string;
}

export type GpuDiscovery =
  | { kind: 'gpus'; gpus: GpuInfo[] }
  /** No NVIDIA GPU here: nvidia-smi is missing or reports no devices. A normal state for a CPU node. */
  | { kind: 'cpu-only'; reason: string }
  /** nvidia-smi exists but failed (driver not loaded, version mismatch...): a broken GPU node. */
  | { kind: 'error'; reason: string };

export const NVIDIA_SMI_QUERY = [
  '--query-gpu=index,uuid,name,memory.total,pci.bus_id,driver_version',
  '--format=csv,noheader,nounits',
];

export interface DiscoverOptions {
  /** Environment to run nvidia-smi in; its PATH decides which nvidia-smi is found. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default 10 s: a hung driver must not hang the control plane. */
  timeoutMs?: number;
}

/** discoverGpus lists this machine's NVIDIA GPUs, or says clearly why there are none. */
export function discoverGpus(opts: DiscoverOptions = {}): Promise<GpuDiscovery> {
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      NVIDIA_SMI_QUERY,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 10_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            resolve({ kind: 'cpu-only', reason: 'no NVIDIA GPUs found: CPU-only node (nvidia-smi is not on PATH)' });
            return;
          }
          const text = `${stdout}\n${stderr}`.trim();
          // nvidia-smi exits 6 ("No devices were found") on a machine with the driver but no GPU.
          if (/no devices were found/i.test(text)) {
            resolve({ kind: 'cpu-only', reason: 'no NVIDIA GPUs found: CPU-only node (nvidia-smi: No devices were found)' });
            return;
          }
          const why = err.killed ? `timed out after ${opts.timeoutMs ?? 10_000} ms` : firstLine(text) || err.message;
          resolve({ kind: 'error', reason: `nvidia-smi failed: ${why}` });
          return;
        }
        try {
          const gpus = parseNvidiaSmiCsv(stdout);
          resolve(
            gpus.length === 0
              ? { kind: 'cpu-only', reason: 'no NVIDIA GPUs found: CPU-only node (nvidia-smi listed none)' }
              : { kind: 'gpus', gpus },
          );
        } catch (e) {
          resolve({ kind: 'error', reason: `nvidia-smi output not understood: ${(e as Error).message}` });
        }
      },
    );
  });
}

/** parseNvidiaSmiCsv reads the output of NVIDIA_SMI_QUERY: one GPU a line, sorted by index. */
export function parseNvidiaSmiCsv(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const f = line.split(',').map((s) => s.trim());
    if (f.length < 6) throw new Error(`expected 6 fields, got ${f.length}: ${line}`);
    const index = Number(f[0]);
    if (!Number.isInteger(index) || index < 0) throw new Error(`bad GPU index: ${line}`);
    // memory.total is "[N/A]" on some GPUs (e.g. with MIG or in some VMs).
    const mem = Number(f[3]);
    gpus.push({
      index,
      uuid: f[1],
      name: f[2],
      memoryMiB: Number.isFinite(mem) ? mem : 0,
      pciBusId: f[4],
      driverVersion: f[5],
    });
  }
  gpus.sort((a, b) => a.index - b.index);
  return gpus;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? ''
  );
}

/** MigDevice: one MIG instance as `nvidia-smi -L` lists it under its parent GPU. */
export interface MigDevice {
  /** nvidia-smi index of the parent GPU. */
  gpu: number;
  /** Profile name, e.g. `1g.23gb`. */
  profile: string;
  /** MIG device number within the GPU. */
  device: number;
  /** `MIG-…` UUID: what CUDA_VISIBLE_DEVICES takes for a MIG instance. */
  uuid: string;
}

/**
 * listMigDevices runs `nvidia-smi -L` and returns the MIG instances it lists (none on GPUs not in
 * MIG mode). Rejects when nvidia-smi is missing or fails: a MIG job cannot run without its instance.
 */
export function listMigDevices(opts: DiscoverOptions = {}): Promise<MigDevice[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'nvidia-smi',
      ['-L'],
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 10_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`nvidia-smi -L failed: ${firstLine(`${stdout}\n${stderr}`) || err.message}`));
        else resolve(parseNvidiaSmiList(stdout));
      },
    );
  });
}

/**
 * parseNvidiaSmiList reads `nvidia-smi -L`: `GPU 0: NVIDIA B200 (UUID: GPU-…)` lines, each followed
 * by its MIG instances as `  MIG 1g.23gb     Device  0: (UUID: MIG-…)`.
 */
export function parseNvidiaSmiList(text: string): MigDevice[] {
  const out: MigDevice[] = [];
  let gpu = -1;
  for (const line of text.split('\n')) {
    const g = /^GPU (\d+):/.exec(line.trim());
    if (g) {
      gpu = Number(g[1]);
      continue;
    }
    const m = /^MIG\s+(\S+)\s+Device\s+(\d+):\s+\(UUID:\s*(MIG-[^)\s]+)\)/.exec(line.trim());
    if (m && gpu >= 0) out.push({ gpu, profile: m[1], device: Number(m[2]), uuid: m[3] });
  }
  return out;
}
