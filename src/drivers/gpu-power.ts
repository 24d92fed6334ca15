/**
 * GPU power sampling on one machine through `nvidia-smi --query-gpu=power.draw,…`, looked up on PATH
 * (a test puts a stand-in first on PATH, as for gpu-discovery.ts), and the integration of samples
 * into a job's energy: the GPUs a job holds, sampled over time, trapezoid rule between samples.
 * Allocated-but-idle GPUs draw idle power and belong to the job that holds them.
 */
import { execFile } from 'node:child_process';

export interface PowerSample {
  index: number;
  uuid: string;
  /** null: the GPU reports no power reading ([N/A], e.g. some MIG or older boards). */
  watts: number | null;
  /** GPU utilisation in percent, null when not reported. */
  utilisation: number | null;
}

export type PowerReading = { kind: 'samples'; at: number; gpus: PowerSample[] } | { kind: 'unavailable'; reason: string };

export const NVIDIA_SMI_POWER_QUERY = ['--query-gpu=index,uuid,power.draw,utilization.gpu', '--format=csv,noheader,nounits'];

const num = (s: string | undefined): number | null => {
  const v = Number((s ?? '').trim());
  return (s ?? '').trim() === '' || Number.isNaN(v) ? null : v;
};

/** parsePowerCsv reads the output of NVIDIA_SMI_POWER_QUERY: one GPU a line. */
export function parsePowerCsv(text: string): PowerSample[] {
  const out: PowerSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const [index, uuid, watts, util] = line.split(',').map((c) => c.trim());
    const i = Number(index);
    if (!Number.isInteger(i) || !uuid) throw new Error(`unexpected line: ${line}`);
    out.push({ index: i, uuid, watts: num(watts), utilisation: num(util) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** samplePower reads every GPU's power draw now, or says why it cannot. */
export function samplePower(
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; now?: () => number } = {},
): Promise<PowerReading> {
  const at = (opts.now ?? Date.now)();
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      NVIDIA_SMI_POWER_QUERY,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 10_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const why =
            code === 'ENOENT' ? 'nvidia-smi is not on PATH' : `${stdout}\n${stderr}`.trim().split('\n')[0] || err.message;
          resolve({ kind: 'unavailable', reason: `no GPU power reading: ${why}` });
          return;
        }
        try {
          resolve({ kind: 'samples', at, gpus: parsePowerCsv(stdout) });
        } catch (e) {
          resolve({ kind: 'unavailable', reason: `nvidia-smi output not understood: ${(e as Error).message}` });
        }
      },
    );
  });
}

/**
 * JobPowerMeter integrates the sampled power of each job's GPUs into joules. A GPU without a
 * reading in a sample (N/A) contributes the `fallbackWatts` the caller gives (the power model).
 */
export class JobPowerMeter {
  private readonly last = new Map<string, { at: number; watts: number }>();
  private readonly joules = new Map<string, number>();

  constructor(private readonly fallbackWatts: (jobId: string) => number) {}

  /** record: one sample for the jobs running now, each with the GPU indices it holds. */
  record(reading: PowerReading, jobs: ReadonlyMap<string, readonly number[]>): void {
    if (reading.kind !== 'samples') return;
    const byIndex = new Map(reading.gpus.map((g) => [g.index, g.watts]));
    for (const [job, gpus] of jobs) {
      const watts = gpus.reduce((a, i) => a + (byIndex.get(i) ?? this.fallbackWatts(job)), 0);
      const prev = this.last.get(job);
      if (prev && reading.at > prev.at) {
        this.joules.set(job, (this.joules.get(job) ?? 0) + ((prev.watts + watts) / 2) * ((reading.at - prev.at) / 1000));
      }
      this.last.set(job, { at: reading.at, watts });
    }
  }

  /** kwh: the job's energy so far. */
  kwh(jobId: string): number {
    return (this.joules.get(jobId) ?? 0) / 3.6e6;
  }

  /** forget: the job ended; its energy was read. */
  forget(jobId: string): void {
    this.last.delete(jobId);
    this.joules.delete(jobId);
  }
}
