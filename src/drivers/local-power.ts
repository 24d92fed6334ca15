/**
 * LocalPowerSampler: the local driver's energy measurement. Every `periodMs` it reads nvidia-smi's
 * power draw once for the machine (samplePower) and adds each running job's GPUs to its meter —
 * allocated-but-idle GPUs at what they draw. Only runs this driver started are measured: a run found
 * again after a restart missed its earlier samples, so it has no figure (the power model counts it).
 * A failed reading never touches the job; it only leaves that run without a figure.
 */
import { gpuWatts } from '../model/energy.js';
import { JobPowerMeter, samplePower } from './gpu-power.js';

interface Measured {
  gpus: number[];
  /** The part of its GPUs the job holds (a share: milli / 1000). */
  share: number;
  began: number;
  gpuType: string;
}

export class LocalPowerSampler {
  private readonly jobs = new Map<string, Measured>();
  private readonly meter = new JobPowerMeter((job) => gpuWatts(this.jobs.get(job)?.gpuType ?? ''));
  private readonly timer: NodeJS.Timeout;
  private inFlight = false;

  constructor(
    periodMs: number,
    private readonly env: NodeJS.ProcessEnv | undefined,
    private readonly now: () => number,
  ) {
    this.timer = setInterval(() => this.sample(), periodMs);
    this.timer.unref();
  }

  /** begin: a run started at `at` on these GPU indices; it is sampled at once and then every period. */
  begin(jobId: string, at: number, job: Omit<Measured, 'began'>): void {
    this.jobs.set(jobId, { ...job, began: at });
    this.meter.begin(jobId, at);
    this.sample();
  }

  /** end: the run ended at `at`: its joules, or null when it has no complete measurement. */
  end(jobId: string, at: number): number | null {
    if (!this.jobs.delete(jobId)) return null;
    return this.meter.end(jobId, at);
  }

  close(): void {
    clearInterval(this.timer);
    for (const id of this.jobs.keys()) this.meter.forget(id);
    this.jobs.clear();
  }

  private sample(): void {
    if (this.inFlight || this.jobs.size === 0) return;
    this.inFlight = true;
    void samplePower({ env: this.env, now: this.now })
      .then((reading) => {
        // Jobs that began after the reading was taken start with the next one.
        const at = reading.kind === 'samples' ? reading.at : this.now();
        const gpus = new Map<string, number[]>();
        const share = new Map<string, number>();
        for (const [id, j] of this.jobs) {
          if (j.began > at) continue;
          gpus.set(id, j.gpus);
          share.set(id, j.share);
        }
        this.meter.record(reading, gpus, share);
      })
      .finally(() => {
        this.inFlight = false;
      });
  }
}
