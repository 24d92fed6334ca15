/**
 * SiteRouterDriver: one ExecutionDriver in front of one driver per site (sim, local, Slurm, ...). The
 * control plane keeps talking to a single driver; jobs go to the driver of their placement's site.
 */
import { Listeners } from './common.js';
import type { CheckpointObservation, DriverJob, ExecutionDriver, LogChunk, NodeStateObservation, Observation } from './driver.js';
import type { SiteRunPolicy } from './runnable.js';

export class SiteRouterDriver implements ExecutionDriver {
  readonly name: string;
  private readonly listeners = new Listeners();
  private readonly jobSite = new Map<string, string>();

  /** fallback serves sites without a driver of their own (e.g. the simulated rest of the fleet). */
  constructor(
    private readonly sites: ReadonlyMap<string, ExecutionDriver>,
    private readonly fallback: ExecutionDriver | null = null,
  ) {
    const names = new Set([...sites.values()].map((d) => d.name));
    if (fallback) names.add(fallback.name);
    this.name = [...names].join('+') || 'none';
    for (const d of this.all()) {
      d.onObservation((o) => {
        if (o.type === 'exited') this.jobSite.delete(o.jobId);
        this.listeners.emit(o);
      });
      d.onNodeState?.((o) => this.listeners.emitNodeState(o));
      d.onCheckpoint?.((o) => this.listeners.emitCheckpoint(o));
    }
  }

  onObservation(listener: (o: Observation) => void): void {
    this.listeners.onObservation(listener);
  }

  onNodeState(listener: (o: NodeStateObservation) => void): void {
    this.listeners.onNodeState(listener);
  }

  onCheckpoint(listener: (o: CheckpointObservation) => void): void {
    this.listeners.onCheckpoint(listener);
  }

  runtimeScale(site: string): number {
    const d = this.sites.get(site) ?? this.fallback;
    return d?.runtimeScale?.(site) ?? 1;
  }

  runPolicy(site: string): SiteRunPolicy {
    const d = this.sites.get(site) ?? this.fallback;
    return d?.runPolicy?.(site) ?? { site, images: true, hostJobs: true };
  }

  /** The driver for a site (for site-specific calls such as SlurmDriver.reconcile). */
  driverFor(site: string): ExecutionDriver {
    const d = this.sites.get(site) ?? this.fallback;
    if (!d) throw new Error(`no execution driver is configured for site ${site}`);
    return d;
  }

  async start(job: DriverJob): Promise<void> {
    const d = this.driverFor(job.placement.site);
    this.jobSite.set(job.id, job.placement.site);
    try {
      await d.start(job);
    } catch (err) {
      this.jobSite.delete(job.id);
      throw err;
    }
  }

  async stop(jobId: string, graceSeconds: number): Promise<void> {
    const site = this.jobSite.get(jobId);
    if (site !== undefined) return this.driverFor(site).stop(jobId, graceSeconds);
    // Unknown here (e.g. ended): every driver ignores jobs it does not run.
    await Promise.all(this.all().map((d) => d.stop(jobId, graceSeconds)));
  }

  /** reattach hands each driver its own jobs — and an empty list to the others, so they find orphans. */
  async reattach(jobs: DriverJob[]): Promise<void> {
    const per = new Map<ExecutionDriver, DriverJob[]>();
    for (const d of this.all()) per.set(d, []);
    for (const j of jobs) {
      per.get(this.driverFor(j.placement.site))?.push(j);
      this.jobSite.set(j.id, j.placement.site);
    }
    await Promise.all([...per].map(([d, js]) => d.reattach(js)));
  }

  async logs(jobId: string, offset: number, maxBytes?: number, attempt?: number, logKey?: Buffer): Promise<LogChunk | null> {
    const site = this.jobSite.get(jobId);
    const order = site !== undefined ? [this.driverFor(site)] : this.all();
    for (const d of order) {
      const chunk = d.logs ? await d.logs(jobId, offset, maxBytes, attempt, logKey).catch(() => null) : null;
      if (chunk) return chunk;
    }
    return null;
  }

  async forget(jobId: string): Promise<void> {
    await Promise.all(this.all().map((d) => d.forget?.(jobId)));
  }

  async removeDatasetState(datasetId: string): Promise<boolean> {
    const done = await Promise.all(this.all().map((d) => d.removeDatasetState?.(datasetId) ?? false));
    return done.some(Boolean);
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((d) => d.close()));
  }

  private all(): ExecutionDriver[] {
    const ds = new Set(this.sites.values());
    if (this.fallback) ds.add(this.fallback);
    return [...ds];
  }
}
