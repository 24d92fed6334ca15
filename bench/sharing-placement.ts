/**
 * Benchmark: placements per CPU-second of the GPU-sharing placement (src/scheduler/sharing), one
 * FGD-protocol run (1,213 nodes / 6,212 GPUs, a task list inflated to 130 % of GPU capacity, seed
 * 42) per policy and for all seven in a row, medians of 3 runs, CPU time of this process (user + system) with the 1-minute
 * load average beside it, since the machine is shared. Needs the openb trace: the folder in
 * GIGAFAB_OPENB_DIR, else ../shared/traces/alibaba-gpu-v2023-openb; skipped without it.
 *
 * Run: `npx tsc -p . && node dist/bench/sharing-placement.js [workload] [policy,policy,...]` (prints JSON;
 * default: `default`, all seven policies; `gpushare60` exercises gigafab's fraction-heavy weight).
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { POLICY_NAMES, type PolicyName } from '../src/scheduler/sharing/policies.js';
import { arrivalOrder, NODE_FILE, policyModels, runPlacement, workloadFile } from '../src/sim/fgd/scenario.js';
import { readOpenbNodes, readOpenbTasks } from '../src/sim/importers/alibaba.js';

const REPO = join(import.meta.dirname ?? '', '../..');

export interface SharingPlacementCase {
  /** A policy, or `all` for the seven in a row (placements and CPU time summed per repetition). */
  policy: PolicyName | 'all';
  placements: number;
  /** Medians of 3: placements (tried, failed ones included) per CPU-second and per wall second. */
  perCpuSecond: number;
  perWallSecond: number;
  runsPerCpuSecond: number[];
  loadAvg1m: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchSharingPlacement(
  policies: readonly PolicyName[] = POLICY_NAMES,
  workload = 'default',
): Promise<SharingPlacementCase[] | { skipped: string }> {
  const dir = process.env.GIGAFAB_OPENB_DIR ?? join(REPO, '../shared/traces/alibaba-gpu-v2023-openb');
  if (!existsSync(join(dir, NODE_FILE))) return { skipped: `no openb trace in ${dir} (set GIGAFAB_OPENB_DIR)` };
  const nodes = (await readOpenbNodes(join(dir, NODE_FILE))).filter((n) => n.gpus > 0);
  const { tasks } = await readOpenbTasks(join(dir, workloadFile(workload)));
  const models = policyModels(tasks, nodes);
  const order = arrivalOrder(tasks, 42, 1.3 * nodes.reduce((s, n) => s + n.gpus, 0) * 1000);
  const out: SharingPlacementCase[] = [];
  const sumCpu = [0, 0, 0];
  const sumWall = [0, 0, 0];
  for (const policy of policies) {
    const cpuRates: number[] = [];
    const wallRates: number[] = [];
    const loads: number[] = [];
    for (let i = 0; i < 3; i++) {
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      runPlacement(nodes, order, policy, models, 42);
      const cpu = process.cpuUsage(cpu0);
      const wall = (performance.now() - wall0) / 1000;
      sumCpu[i] += (cpu.user + cpu.system) / 1e6;
      sumWall[i] += wall;
      cpuRates.push(Math.round(order.length / ((cpu.user + cpu.system) / 1e6)));
      wallRates.push(Math.round(order.length / wall));
      loads.push(Math.round(loadavg()[0] * 100) / 100);
    }
    out.push({
      policy,
      placements: order.length,
      perCpuSecond: median(cpuRates),
      perWallSecond: median(wallRates),
      runsPerCpuSecond: cpuRates,
      loadAvg1m: loads,
    });
  }
  const all = sumCpu.map((c) => Math.round((order.length * policies.length) / c));
  out.push({
    policy: 'all',
    placements: order.length * policies.length,
    perCpuSecond: median(all),
    perWallSecond: median(sumWall.map((w) => Math.round((order.length * policies.length) / w))),
    runsPerCpuSecond: all,
    loadAvg1m: [Math.round(loadavg()[0] * 100) / 100],
  });
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [workload, list] = process.argv.slice(2);
  const policies = list ? (list.split(',') as PolicyName[]).filter((p) => POLICY_NAMES.includes(p)) : POLICY_NAMES;
  console.log(JSON.stringify(await benchSharingPlacement(policies, workload ?? 'default'), null, 2));
}
