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
 * A job's share of its GPUs (a fraction of one GPU: milli / 1000) scales what they draw. With
 * begin() and end(), the first sample's power holds back to the run's start and the last one's up
 * to its end, so the whole run is counted; a job for which nvidia-smi failed once has no figure.
 */
export class JobPowerMeter {
  private readonly last = new Map<string, { at: number; watts: number }>();
  private readonly joules = new Map<string, number>();
  private readonly began = new Map<string, number>();
  private readonly failed = new Set<string>();

  constructor(private readonly fallbackWatts: (jobId: string) => number) {}

  /** begin: the job's run started at `at` (epoch ms); its first sample counts from there. */
  begin(jobId: string, at: number): void {
    this.began.set(jobId, at);
  }

  /**
   * record: one sample for the jobs running now, each with the GPU indices it holds (`share`: the
   * part of them it holds, default 1). An unavailable reading leaves those jobs without a figure.
   */
  record(reading: PowerReading, jobs: ReadonlyMap<string, readonly number[]>, share?: ReadonlyMap<string, number>): void {
    if (reading.kind !== 'samples') {
      for (const job of jobs.keys()) this.failed.add(job);
      return;
    }
    const byIndex = new Map(reading.gpus.map((g) => [g.index, g.watts]));
    for (const [job, gpus] of jobs) {
      const drawn = gpus.reduce((a, i) => a + (byIndex.get(i) ?? this.fallbackWatts(job)), 0);
      const watts = drawn * (share?.get(job) ?? 1);
      const prev = this.last.get(job) ?? this.startOf(job, watts);
      if (prev && reading.at > prev.at) this.add(job, prev.watts, watts, reading.at - prev.at);
      this.last.set(job, { at: reading.at, watts });
    }
  }

  /** kwh: the job's energy so far (up to its last sample). */
  kwh(jobId: string): number {
    return (this.joules.get(jobId) ?? 0) / 3.6e6;
  }

  /**
   * end: the job's run ended at `at`; its joules with the last sample's power held up to then, or
   * null when it was never sampled or a sample failed. The job is forgotten.
   */
  end(jobId: string, at: number): number | null {
    const prev = this.last.get(jobId);
    const ok = prev !== undefined && !this.failed.has(jobId);
    if (prev && at > prev.at) this.add(jobId, prev.watts, prev.watts, at - prev.at);
    const joules = this.joules.get(jobId) ?? 0;
    this.forget(jobId);
    return ok ? joules : null;
  }

  /** forget: the job ended; its energy was read. */
  forget(jobId: string): void {
    this.last.delete(jobId);
    this.joules.delete(jobId);
    this.began.delete(jobId);
    this.failed.delete(jobId);
  }

  private startOf(jobId: string, watts: number): { at: number; watts: number } | undefined {
    const at = this.began.get(jobId);
    return at === undefined ? undefined : { at, watts };
  }

  /** add: the trapezoid between two readings `ms` apart. */
  private add(jobId: string, w0: number, w1: number, ms: number): void {
    this.joules.set(jobId, (this.joules.get(jobId) ?? 0) + ((w0 + w1) / 2) * (ms / 1000));
  }
}
