/**
 * Preemptor.plan stops scanning its candidates at the first one, past the evicting and borrowed
 * ones, whose priority class is not below the preemptor's (the rest are sorted by class, and
 * `why` can only answer 'priority' for them), and starts past the candidates already taken. Differential check on random fleets: every plan of a
 * sequence (victims taken accumulate) equals the plan of a Preemptor that scans the whole list,
 * and so does the cluster afterwards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GpuType } from '../../src/model/fleet.js';
import { mulberry32 } from '../../src/model/prng.js';
import {
  ClusterModel,
  CohortLedger,
  Preemptor,
  type QuotaTable,
  type RunningJobInfo,
  type SchedJob,
} from '../../src/scheduler/index.js';
import { job, makeFleet } from './fixtures.js';

const NOW = 2_000_000_000;

/** ScanAll: the Preemptor without the early stop and without skipping the taken prefix (the reference). */
class ScanAll extends Preemptor {
  protected override stopFrom(): number {
    return Number.POSITIVE_INFINITY;
  }

  protected override scanFrom(): number {
    return 0;
  }
}

/** Counted: the Preemptor as is, counting the plans that start past a taken prefix. */
class Counted extends Preemptor {
  skipped = 0;

  protected override scanFrom(gpuType: GpuType): number {
    const from = super.scanFrom(gpuType);
    if (from > 0) this.skipped++;
    return from;
  }
}

const PROJECTS = ['p1', 'p2', 'p3'];

function setUp(seed: number): { cluster: ClusterModel; running: RunningJobInfo[]; quotas: QuotaTable } {
  const rand = mulberry32(seed);
  const cluster = new ClusterModel(
    makeFleet([
      { site: 'a', gpuType: 'B200', count: 10 },
      { site: 'b', gpuType: 'B200', count: 6 },
      { site: 'a', gpuType: 'RTX', count: 6, gpus: 4 },
    ]),
  );
  const running: RunningJobInfo[] = [];
  let k = 0;
  for (const n of cluster.fleet.nodes) {
    let free = n.gpus;
    let next = 0;
    while (free > 0 && rand() < 0.9) {
      const take = 1 + Math.floor(rand() * free);
      const id = `r${k++}`;
      const project = PROJECTS[Math.floor(rand() * PROJECTS.length)];
      cluster.allocate(
        id,
        project,
        { site: n.site, gpuType: n.gpuType, nodes: [{ node: n.id, gpus: Array.from({ length: take }, (_, g) => next + g) }] },
        `o-${project}`,
      );
      const startedAt = NOW - Math.floor(rand() * 7200) * 1000;
      running.push({
        id,
        project,
        org: `o-${project}`,
        priority: [0, 100, 200, 300][Math.floor(rand() * 4)],
        gpus: take,
        startedAt,
        lastCheckpointAt: rand() < 0.5 ? startedAt + Math.floor(rand() * 600) * 1000 : undefined,
        borrowed: rand() < 0.35,
        preemptible: rand() < 0.85,
        evicting: rand() < 0.05 ? true : undefined,
      });
      next += take;
      free -= take;
    }
  }
  // p1 well within its quota, p2 far beyond (its borrowed jobs would borrow again: reclaimable),
  // p3 anywhere: reclaims, class preemption and failures all occur.
  const quotas: QuotaTable = new Map([
    [
      'p1',
      new Map<GpuType, number>([
        ['B200', 200],
        ['RTX', 40],
      ]),
    ],
    [
      'p2',
      new Map<GpuType, number>([
        ['B200', Math.floor(rand() * 6)],
        ['RTX', Math.floor(rand() * 3)],
      ]),
    ],
    [
      'p3',
      new Map<GpuType, number>([
        ['B200', Math.floor(rand() * 80)],
        ['RTX', Math.floor(rand() * 16)],
      ]),
    ],
  ]);
  return { cluster, running, quotas };
}

test('plan with the early stop equals scanning every candidate, through a sequence of plans', () => {
  let plans = 0;
  let found = 0;
  let skipped = 0;
  for (let seed = 1; seed <= 80; seed++) {
    const a = setUp(5000 + seed);
    const b = setUp(5000 + seed);
    const borrowing = { enabled: true };
    const config = { enabled: true, minRuntimeSeconds: 300, maxEvictedGpusPerRequestedGpu: seed % 3 === 0 ? 4 : 2 };
    const pa = new Counted(a.cluster, new CohortLedger(a.cluster, a.quotas, borrowing, a.running), a.running, config, NOW);
    const pb = new ScanAll(b.cluster, new CohortLedger(b.cluster, b.quotas, borrowing, b.running), b.running, config, NOW);
    const rand = mulberry32(9000 + seed);
    for (let step = 0; step < 25; step++) {
      const gpuType: GpuType = rand() < 0.75 ? 'B200' : 'RTX';
      const max = gpuType === 'B200' ? 8 : 4;
      const j: SchedJob = job(`q${step}`, {
        project: PROJECTS[Math.floor(rand() * PROJECTS.length)],
        gpuType,
        gpusPerNode: 1 + Math.floor(rand() * max),
        nodes: 1 + Math.floor(rand() * 3),
        priority: [0, 100, 200, 300, 400][Math.floor(rand() * 5)],
      });
      const borrowed = rand() < 0.3;
      const got = pa.plan(j, gpuType, borrowed);
      const want = pb.plan(j, gpuType, borrowed);
      assert.deepEqual(got, want, `seed ${seed} step ${step}`);
      plans++;
      if (want) found++;
    }
    skipped += pa.skipped;
    assert.deepEqual(a.cluster.allocatedJobs(), b.cluster.allocatedJobs(), `seed ${seed}: cluster`);
  }
  // Both outcomes must be common for the comparison to mean something.
  assert.ok(found > 100 && plans - found > 100, `${found} of ${plans} plans found victims`);
  // And plans that skip a taken prefix.
  assert.ok(skipped > 20, `${skipped} plans started past taken candidates`);
});
