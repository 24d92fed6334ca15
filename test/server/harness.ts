/**
 * An in-process control plane for unit tests of the cycle runner and the job service: a temporary
 * store (SQLite unless the test opens another), a small fleet (four 8-GPU B200 nodes), the simulated driver and a clock the test
 * moves by hand. No server process, no HTTP; cycles run when the test calls runCycle().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionDriver } from '../../src/drivers/driver.js';
import { SimDriver } from '../../src/drivers/sim-driver.js';
import { realTimers, type Timers } from '../../src/drivers/timers.js';
import { loadFleetFile } from '../../src/fleet/load-fleet.js';
import { DEFAULT_POLICY, type Policy } from '../../src/model/policy.js';
import type { Principal, RequestContext } from '../../src/model/principal.js';
import { type JobSpec, JobSpecSchema } from '../../src/model/schemas.js';
import { ControlPlane } from '../../src/server/control-plane.js';
import { SchedulingState } from '../../src/server/cycle/scheduling-state.js';
import { EventBus } from '../../src/server/event-bus.js';
import type { ControlPlaneHooks, ResidencyGate } from '../../src/server/ports.js';
import { openSqliteStore, type Store } from '../../src/store/open-store.js';
import { writeSmallFleet } from '../helpers/fleets.js';

export interface Harness {
  cp: ControlPlane;
  store: Store;
  clock: { t: number };
  tenant: RequestContext;
  operator: Principal;
  spec(fields: Partial<JobSpec> & Record<string, unknown>): JobSpec;
  /** The job's row state in the store. */
  stateOf(id: string): Promise<string>;
  eventTypes(id: string): Promise<string[]>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  policy?: Policy;
  hooks?: ControlPlaneHooks;
  residency?: ResidencyGate;
  /** The driver, given the test's clock (default: the simulated driver at time scale 1). */
  driver?: (clock: Timers) => ExecutionDriver;
  /** The loop's idle interval (ms), for tests that start the loop. */
  cycleIntervalMs?: number;
  /** Opens the store in the given directory (default: SQLite; see helpers/store-dialects.ts). */
  openStore?: (dir: string) => Promise<Store>;
  /** Writes the fleet file into the directory and returns its path (default: writeSmallFleet). */
  fleet?: (dir: string) => string;
}

export async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-cycle-'));
  const fleet = loadFleetFile((opts.fleet ?? writeSmallFleet)(dir));
  const store = await (opts.openStore ?? openSqliteStore)(join(dir, 'data'));
  const clock = { t: Date.parse('2026-01-05T09:00:00Z') };
  const now = () => clock.t;
  // The test moves `now`; timers still fire on the wall clock (jobs of an hour never do in a test).
  const timers: Timers = { now, after: realTimers.after };
  const at = new Date(clock.t).toISOString();
  await store.db.insertInto('orgs').values({ id: 'acme', name: 'Acme', kind: 'start-up', created_at: at }).execute();
  await store.db.insertInto('projects').values({ id: 'vision', org_id: 'acme', name: 'vision', created_at: at }).execute();
  await store.db.insertInto('quotas').values({ project_id: 'vision', gpu_type: 'B200', gpus: 64 }).execute();
  // timeScale 1 and jobs of an hour: nothing ends on its own while a test runs.
  const driver: ExecutionDriver = opts.driver ? opts.driver(timers) : new SimDriver(1, timers);
  const residency = opts.residency ?? null;
  const cp = new ControlPlane({
    state: new SchedulingState(fleet, driver, residency, now),
    store,
    driver,
    bus: new EventBus(),
    metrics: null,
    policy: opts.policy ?? DEFAULT_POLICY,
    residency,
    hooks: opts.hooks ?? {},
    cycleIntervalMs: opts.cycleIntervalMs,
  });
  await cp.recover();
  return {
    cp,
    store,
    clock,
    tenant: { principal: { userId: 'ada', role: 'member', org: 'acme' }, requestId: 'req-test' },
    operator: { userId: 'op', role: 'operator', org: null },
    spec: (fields) =>
      JobSpecSchema.parse({ name: 'j', project: 'vision', gpuType: 'B200', simulation: { durationSeconds: 3600 }, ...fields }),
    stateOf: async (id) =>
      (await store.db.selectFrom('jobs').select('state').where('id', '=', Number(id)).executeTakeFirstOrThrow()).state,
    eventTypes: async (id) =>
      (await store.db.selectFrom('job_events').select('type').where('job_id', '=', Number(id)).orderBy('id').execute()).map(
        (e) => e.type,
      ),
    async close() {
      await cp.stop();
      await driver.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** eventually polls `check` until it holds (driver observations are handled asynchronously). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
