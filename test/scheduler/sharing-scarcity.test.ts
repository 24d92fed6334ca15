/**
 * What makes `gigafab` robust beyond the workload it was first tuned on: tasks that could run
 * almost anywhere keep off the scarce homes of picky tasks (ScarceHomes), and on fraction-heavy
 * workloads fractions are scored with more weight on the copies term. Hand-checked.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../src/model/prng.js';
import { type ShareNodeSpec, type ShareTask, SharingCluster } from '../../src/scheduler/sharing/cluster.js';
import { FragmentationModel, typicalTasks } from '../../src/scheduler/sharing/fragmentation.js';
import {
  constrainedShare,
  fractionShare,
  GIGAFAB_CONSTRAINED_PICKY_SHARE,
  GIGAFAB_CONSTRAINED_SCARCE_PENALTY,
  GIGAFAB_FGD_WEIGHT,
  GIGAFAB_FRACTION_FGD_WEIGHT,
  GIGAFAB_IDLE_NODE_PENALTY,
  GIGAFAB_MULTI_GPU_FGD_WEIGHT,
  GIGAFAB_MULTI_GPU_FRACTION_FGD_WEIGHT,
  GIGAFAB_MULTI_GPU_IDLE_NODE_PENALTY,
  GIGAFAB_MULTI_GPU_WHOLE_NODE_GPUS,
  GIGAFAB_PARAMS,
  GIGAFAB_PICKY_SHARE,
  GIGAFAB_SCARCE_PENALTY,
  gigafabParamsFor,
  gigafabPolicy,
  multiGpuShare,
  placeTask,
} from '../../src/scheduler/sharing/policies.js';
import { ScarceHomes } from '../../src/scheduler/sharing/scarcity.js';

const node = (name: string, cores: number, gpus: number, model: string): ShareNodeSpec => ({
  name,
  cpuMilli: cores * 1000,
  memoryMiB: 1 << 20,
  gpus,
  model,
});
let seq = 0;
const task = (cores: number, gpus: number, gpuMilli: number, models: string[] | null = null): ShareTask => ({
  id: `t${++seq}`,
  cpuMilli: cores * 1000,
  memoryMiB: 1024,
  gpus,
  gpuMilli,
  models,
});

test('scarce homes: picky shapes and the nodes that alone can hold them', () => {
  // 10 big-CPU 8-GPU nodes (G3), 90 smaller 8-GPU nodes (G2), 100 two-GPU nodes (T4): 1,000 GPUs.
  const nodes = [
    ...Array.from({ length: 10 }, (_, i) => node(`g3-${i}`, 128, 8, 'G3')),
    ...Array.from({ length: 90 }, (_, i) => node(`g2-${i}`, 96, 8, 'G2')),
    ...Array.from({ length: 100 }, (_, i) => node(`t4-${i}`, 104, 2, 'T4')),
  ];
  const bigCpu = task(120, 8, 1000); // only G3: 80 GPUs = 8 % < 10 %
  const small = task(4, 1, 1000);
  const s = new ScarceHomes(nodes, [bigCpu, small, task(4, 1, 500)], 0.1);
  assert.equal(s.picky(bigCpu), true);
  assert.equal(s.picky(small), false);
  assert.equal(s.picky(task(4, 1, 1000, ['G3'])), true);
  assert.equal(s.picky(task(4, 1, 1000, ['T4'])), false); // 200 GPUs = 20 %
  assert.deepEqual(
    [s.scarce[0], s.scarce[9], s.scarce[10], s.scarce[150]],
    [1, 1, 0, 0],
    'G3 nodes are scarce homes, G2 and T4 not',
  );
  // A workload without picky shapes has no scarce homes.
  assert.equal(
    new ScarceHomes(nodes, [small], 0.1).scarce.reduce((a, b) => a + b, 0),
    0,
  );
});

test('gigafab: a small task keeps off the scarce home, so the picky 8-GPU task still fits', () => {
  // Node 0: G3 (128 cores, 8 GPUs, the only home of a 120-core 8-GPU task); node 1: G2 (96 cores).
  // A 1-GPU task goes to node 0 in list order when both nodes score the same; with scarce homes
  // it loses 2 points there and takes node 1, and the picky task then fits on node 0.
  const nodes = [
    node('g3', 128, 8, 'G3'),
    node('g2', 96, 8, 'G2'),
    ...Array.from({ length: 12 }, (_, i) => node(`t4-${i}`, 8, 2, 'T4')),
  ];
  const picky = task(120, 8, 1000);
  const small = task(4, 1, 1000);
  const workload = [small, small, small, picky];
  const run = (scarcity: ScarceHomes | null) => {
    const cluster = new SharingCluster(nodes);
    const model = new FragmentationModel(typicalTasks([small]));
    const policy = gigafabPolicy(model, cluster, { ...GIGAFAB_PARAMS, idleNodePenalty: 0 }, scarcity);
    const ctx = { cluster, policy, rng: mulberry32(1) };
    return [small, picky].map((t) => placeTask(ctx, t)?.node ?? -1);
  };
  assert.deepEqual(run(null), [0, -1]);
  assert.deepEqual(run(new ScarceHomes(nodes, workload, 0.5)), [1, 0]);
});

test('scarce homes: a constrained shape is picky below its own share (rule 6)', () => {
  const nodes = [
    ...Array.from({ length: 10 }, (_, i) => node(`g3-${i}`, 128, 8, 'G3')),
    ...Array.from({ length: 90 }, (_, i) => node(`g2-${i}`, 96, 8, 'G2')),
    ...Array.from({ length: 75 }, (_, i) => node(`t4-${i}`, 104, 2, 'T4')),
  ];
  const t4 = task(4, 1, 1000, ['T4']); // 150 of 950 GPUs = 15.8 %
  const bigCpu = task(90, 8, 1000); // G3 and G2 nodes: 800 GPUs, not picky
  const tasks = [t4, bigCpu, task(4, 1, 1000)];
  assert.equal(new ScarceHomes(nodes, tasks, 0.1).picky(t4), false);
  const s = new ScarceHomes(nodes, tasks, 0.1, 0.2);
  assert.equal(s.picky(t4), true);
  assert.equal(s.picky(task(4, 1, 1000, ['G3'])), true);
  assert.equal(s.picky(task(4, 1, 1000)), false);
  assert.deepEqual([s.scarce[0], s.scarce[50], s.scarce[120]], [0, 0, 1], 'only the T4 pool is a scarce home');
});

test('gigafab: rules 6 and 7 follow the task list (constrained tasks, multi-GPU share)', () => {
  const plain = [task(4, 1, 1000), task(4, 1, 500), task(8, 2, 1000)]; // 2,000 of 3,500 milli = 57 % multi-GPU
  const oneGpu = [task(4, 1, 1000), task(4, 1, 1000), task(8, 0, 0)];
  const constrained = [...oneGpu, task(4, 1, 1000, ['T4'])];
  assert.equal(multiGpuShare(plain), 2000 / 3500);
  assert.equal(multiGpuShare(oneGpu), 0);
  assert.equal(constrainedShare(oneGpu), 0);
  assert.equal(constrainedShare(constrained), 1 / 3);
  assert.deepEqual(gigafabParamsFor(oneGpu), { ...GIGAFAB_PARAMS }, 'neither rule: rules 1-4 unchanged');
  const c = gigafabParamsFor(constrained);
  assert.equal(c.constrainedPickyShare, GIGAFAB_CONSTRAINED_PICKY_SHARE);
  assert.equal(c.scarcePenalty, GIGAFAB_CONSTRAINED_SCARCE_PENALTY);
  assert.equal(c.fgdWeight, GIGAFAB_FGD_WEIGHT);
  assert.equal(c.idleNodePenalty, GIGAFAB_IDLE_NODE_PENALTY);
  const m = gigafabParamsFor(plain);
  assert.equal(m.fgdWeight, GIGAFAB_MULTI_GPU_FGD_WEIGHT);
  assert.equal(m.idleNodePenalty, GIGAFAB_MULTI_GPU_IDLE_NODE_PENALTY);
  assert.equal(m.wholeNodeGpus, GIGAFAB_MULTI_GPU_WHOLE_NODE_GPUS);
  assert.equal(m.fractionFgdWeight, GIGAFAB_MULTI_GPU_FRACTION_FGD_WEIGHT);
  // Fraction-heavy and multi-GPU-heavy: rule 5 keeps the fractions' weight.
  const both = [task(4, 1, 500), task(4, 1, 500), task(4, 1, 500), task(4, 1, 500), task(8, 2, 1000)];
  assert.equal(gigafabParamsFor(both).fractionFgdWeight, GIGAFAB_FRACTION_FGD_WEIGHT);
  assert.equal(gigafabParamsFor(both).fgdWeight, GIGAFAB_MULTI_GPU_FGD_WEIGHT);
  assert.equal(m.scarcePenalty, GIGAFAB_SCARCE_PENALTY);
  assert.equal(m.constrainedPickyShare, GIGAFAB_PICKY_SHARE);
});

test('gigafab: no idle-node point on multi-GPU-heavy lists (rule 8), from a 15 % multi-GPU share on', () => {
  // 2 x 4 GPUs of 51 (15.7 %) vs 2 x 4 of 54 (14.8 %).
  const justAbove = [...Array.from({ length: 43 }, () => task(4, 1, 1000)), task(8, 4, 1000), task(8, 4, 1000)];
  const justBelow = [...Array.from({ length: 46 }, () => task(4, 1, 1000)), task(8, 4, 1000), task(8, 4, 1000)];
  assert.ok(multiGpuShare(justAbove) >= 0.15 && multiGpuShare(justBelow) < 0.15);
  assert.equal(gigafabParamsFor(justAbove).idleNodePenalty, 0);
  assert.equal(gigafabParamsFor(justBelow).idleNodePenalty, GIGAFAB_IDLE_NODE_PENALTY);
  assert.equal(gigafabParamsFor(justBelow).wholeNodeGpus, GIGAFAB_PARAMS.wholeNodeGpus);
  // Scored: a 1-GPU task opening an idle 2-GPU node loses nothing there, 3 points with rule 7's penalty.
  const nodes = Array.from({ length: 3 }, (_, i) => node(`n${i}`, 32, 2, 'G2'));
  const one = task(4, 1, 1000);
  const model = new FragmentationModel(typicalTasks(justAbove));
  const c = new SharingCluster(nodes);
  c.place(task(4, 1, 1000), { node: 0, gpus: [0] });
  const params = gigafabParamsFor(justAbove);
  const rule8 = gigafabPolicy(model, c, params, null);
  const rule7 = gigafabPolicy(model, c, { ...params, idleNodePenalty: 3 }, null);
  assert.equal(rule7.score(c, one, 1).score, rule8.score(c, one, 1).score - 3, 'idle node: rule 7 took 3 points');
  assert.equal(rule7.score(c, one, 0).score, rule8.score(c, one, 0).score, 'a used node never had the point');
});

test("gigafab: the fraction weight follows the workload's fractional share", () => {
  // 3 x 500 milli of 2,500 milli requested = 60 % fractional; 1 x 500 of 4,500 = 11 %.
  const heavy = [task(4, 1, 500), task(4, 1, 500), task(4, 1, 500), task(4, 1, 1000), task(8, 0, 0)];
  const light = [task(4, 1, 500), task(4, 1, 1000), task(4, 1, 1000), task(4, 1, 1000), task(4, 1, 1000)];
  assert.equal(fractionShare(heavy), 0.6);
  assert.equal(fractionShare(light), 500 / 4500);
  assert.equal(fractionShare([task(8, 0, 0)]), 0);
  assert.equal(gigafabParamsFor(heavy).fractionFgdWeight, GIGAFAB_FRACTION_FGD_WEIGHT);
  assert.equal(gigafabParamsFor(light).fractionFgdWeight, GIGAFAB_FGD_WEIGHT);
  assert.equal(gigafabParamsFor(heavy).fgdWeight, GIGAFAB_FGD_WEIGHT, 'whole-GPU tasks keep the blend');
});

test('gigafab: the fraction weight changes the scores of fractions only', () => {
  // Nodes in different partial states; the same typical set (fractions, whole GPUs, CPU-only).
  const nodes = Array.from({ length: 6 }, (_, i) => node(`n${i}`, 32, 4, 'G2'));
  const typical = [task(4, 1, 300), task(6, 1, 450), task(4, 1, 700), task(8, 1, 1000), task(16, 2, 1000), task(2, 0, 0)];
  const model = new FragmentationModel(typicalTasks(typical));
  const state = () => {
    const c = new SharingCluster(nodes);
    c.place(task(4, 1, 300), { node: 1, gpus: [0] });
    c.place(task(6, 1, 450), { node: 2, gpus: [1] });
    c.place(task(4, 1, 700), { node: 3, gpus: [2] });
    c.place(task(16, 2, 1000), { node: 4, gpus: [0, 1] });
    c.place(task(6, 1, 450), { node: 5, gpus: [3] });
    c.place(task(20, 0, 0), { node: 5, gpus: [] });
    return c;
  };
  const scores = (t: ShareTask, w: number) => {
    const c = state();
    const p = gigafabPolicy(model, c, { ...GIGAFAB_PARAMS, fractionFgdWeight: w }, null);
    return nodes.map((_, n) => (c.fits(t, n) ? p.score(c, t, n) : null));
  };
  for (const t of [task(8, 1, 1000), task(16, 2, 1000), task(2, 0, 0)])
    assert.deepEqual(scores(t, 0.4), scores(t, 0.7), `${t.gpus} x ${t.gpuMilli}: not a fraction, same scores`);
  const frac = task(4, 1, 300);
  assert.notDeepEqual(scores(frac, 0.4), scores(frac, 0.7), 'a fraction is scored with its own weight');
  assert.deepEqual(scores(frac, GIGAFAB_FGD_WEIGHT), scores(frac, GIGAFAB_PARAMS.fgdWeight));
});
