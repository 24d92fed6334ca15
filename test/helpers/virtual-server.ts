/**
 * The server's ControlPlane on a virtual clock: constructed as `gigafab server` does
 * (src/compose/start.ts: SQLite store in a temporary directory, fleet file, SimDriver, event bus,
 * policy, Tenancy for orgs, projects and quotas), with the SimDriver's timers on a VirtualClock and
 * the control plane's clock reading it. Left out, as they decide nothing for a trace: HTTP, the key
 * hierarchy (fields stay in clear), residency and dataset manifests, audit sealing, metrics. A trace's jobs are submitted at their submit times and
 * every start, preemption and requeue the server commits is recorded, in the simulator's terms
 * (trace job ids, virtual seconds) so the two can be compared.
 *
 * Cycles run the way the simulator's event mode runs them: at an instant where jobs arrived or
 * ended and some are queued, after every exit and arrival of that instant; again at the same
 * instant while a cycle's effects (a preemption's stop) freed capacity. The server's own timer
 * loop (startLoop) is not started: on a virtual clock the harness decides when a cycle is due.
 *
 * Kept in this one file so it can follow the server's construction when that changes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { VirtualClock } from '../../src/drivers/timers.js';
import { loadFleetFile } from '../../src/fleet/load-fleet.js';
import type { Principal } from '../../src/model/principal.js';
import type { JobSpecInput } from '../../src/model/schemas.js';
import { JobSpecSchema } from '../../src/model/schemas.js';
import type { QuotaTable } from '../../src/scheduler/index.js';
import { ControlPlane } from '../../src/server/control-plane.js';
import { SchedulingState } from '../../src/server/cycle/scheduling-state.js';
import { EventBus } from '../../src/server/event-bus.js';
import type { Policy } from '../../src/server/policy.js';
import { Tenancy } from '../../src/server/tenancy/index.js';
import type { SimTransition } from '../../src/sim/engine.js';
import { tenantKey } from '../../src/sim/metrics.js';
import type { SimJob } from '../../src/sim/types.js';
import { openSqliteStore } from '../../src/store/open-store.js';

export interface VirtualServerOptions {
  fleetPath: string;
  policy: Policy;
  /** Tenant key (`org/project`) -> GPU type -> GPUs: the quotas the simulator ran with. */
  quotas: QuotaTable;
}

/** The part of a `running` event's placement the comparison reads. */
const PlacementNodes = z.object({ nodes: z.array(z.object({ node: z.string() })) });

const OPERATOR: Principal = { userId: 'operator', role: 'operator', org: null };

/** serverProject: a tenant key as a project id (project ids are slugs: no slash). */
export const serverProject = (key: string) => key.replace(/[^a-z0-9-]/g, '-');

/** PRIORITY_CLASS: the class a numeric trace priority names (the simulator's default is normal). */
const CLASS_OF: Record<number, JobSpecInput['priorityClass']> = {
  1000: 'critical',
  500: 'high',
  100: 'normal',
  50: 'low',
  0: 'preemptible',
};

/** runVirtualServer runs `jobs` (in submit order) through the server and returns its transitions. */
export async function runVirtualServer(jobs: readonly SimJob[], opts: VirtualServerOptions): Promise<SimTransition[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-virtual-'));
  const clock = new VirtualClock(0);
  const store = await openSqliteStore(dir);
  const fleet = loadFleetFile(opts.fleetPath);
  const driver = new SimDriver(1, clock);
  const bus = new EventBus();
  const now = () => clock.now();
  // Built as src/compose/wire-control-plane.ts builds it, less residency and the sovereignty hooks.
  const state = new SchedulingState(fleet, driver, null, now);
  const cp = new ControlPlane({ state, store, driver, bus, metrics: null, policy: opts.policy });
  const tenancy = new Tenancy({ store, quotas: state, now });
  const ctx = { principal: OPERATOR, requestId: 'virtual' };
  try {
    await cp.recover();
    const traceIdOf = new Map<string, string>();
    const out: SimTransition[] = [];
    let activity = 0;
    let exited = false;
    driver.onObservation((o) => {
      activity++;
      if (o.type === 'exited') exited = true;
    });
    bus.subscribeAll(({ event: e }) => {
      activity++;
      const jobId = traceIdOf.get(e.jobId) ?? e.jobId;
      const at = Date.parse(e.at) / 1000;
      const data = e.data ?? {};
      if (e.type === 'running') {
        const nodes = PlacementNodes.parse(data.placement).nodes.map((n) => n.node);
        out.push({ kind: 'start', jobId, at, nodes, borrowed: e.message.includes('on borrowed capacity') });
      } else if (e.type === 'preempting') {
        out.push({ kind: 'preempt', jobId, at, forJobId: traceIdOf.get(String(data.forJobId)) ?? String(data.forJobId) });
      } else if (e.type === 'queued' && data.preemptedFor !== undefined) {
        out.push({ kind: 'requeue', jobId, at });
      }
    });
    /** settle lets the server's asynchronous work (commits, driver observations) finish. */
    const settle = async () => {
      let quiet = 0;
      let seen = activity;
      while (quiet < 8) {
        await new Promise((r) => setImmediate(r));
        if (activity === seen) quiet++;
        else {
          quiet = 0;
          seen = activity;
        }
      }
    };

    // Tenants: every org and project the quotas name or the trace uses, in the quotas' order.
    const members = new Map<string, Principal>();
    const keys = [...opts.quotas.keys()];
    for (const j of jobs) if (!keys.includes(tenantKey(j))) keys.push(tenantKey(j));
    for (const key of keys) {
      const org = key.slice(0, key.indexOf('/'));
      if (!members.has(org)) {
        await tenancy.orgs.create(ctx, { id: org, name: org, kind: 'research' });
        members.set(org, { userId: `${org}-member`, role: 'member', org });
      }
      await tenancy.projects.create(ctx, org, { id: serverProject(key) });
      for (const [gpuType, gpus] of opts.quotas.get(key) ?? []) {
        await tenancy.projects.setQuota(ctx, serverProject(key), gpuType, gpus);
      }
    }

    let next = 0;
    for (;;) {
      const tArrive = next < jobs.length ? jobs[next].submitTime * 1000 : Number.POSITIVE_INFINITY;
      const t = Math.min(tArrive, clock.nextDue());
      if (t === Number.POSITIVE_INFINITY) break;
      exited = false;
      clock.advanceTo(t);
      await settle();
      let arrived = false;
      while (next < jobs.length && jobs[next].submitTime * 1000 === t) {
        const j = jobs[next++];
        const spec = JobSpecSchema.parse({
          name: j.id,
          project: serverProject(tenantKey(j)),
          gpuType: j.gpuType ?? 'any',
          gpusPerNode: j.gpusPerNode,
          nodes: j.nodes,
          maxRuntimeSeconds: j.wallLimit,
          priorityClass: CLASS_OF[j.priority ?? 100] ?? 'normal',
          simulation: { durationSeconds: j.duration, exitCode: 0 },
        });
        const { job } = await cp.submitJob(members.get(j.org)!, spec, undefined, 'virtual');
        traceIdOf.set(job.id, j.id);
        arrived = true;
      }
      let due = arrived || exited;
      while (due && cp.queueLength() > 0) {
        exited = false;
        await cp.runCycle();
        await settle();
        due = exited; // a preempted job stopped at once: its GPUs are free at this same instant
      }
    }
    return out;
  } finally {
    await cp.stop();
    await driver.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
