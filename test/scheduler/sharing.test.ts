/**
 * GPU-sharing placement (src/scheduler/sharing): hand-checked placements for every policy, the
 * invariants (a GPU never holds more than 1000 milli, CPU/memory/model/tenancy respected) and
 * determinism. Scores in the comments are computed by hand from the policy definitions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../../src/model/prng.js';
import { type ShareNodeSpec, type ShareTask, SharingCluster, validateTask } from '../../src/scheduler/sharing/cluster.js';
import { FragmentationModel, typicalTasks } from '../../src/scheduler/sharing/fragmentation.js';
import { makePolicy, POLICY_NAMES, type PolicyName, placeTask } from '../../src/scheduler/sharing/policies.js';

const node = (name: string, cpuCores: number, gpus: number, model = 'X', memoryMiB = 1 << 20): ShareNodeSpec => ({
  name,
  cpuMilli: cpuCores * 1000,
  memoryMiB,
  gpus,
  model,
});
let seq = 0;
const task = (cpuCores: number, gpus: number, gpuMilli: number, extra: Partial<ShareTask> = {}): ShareTask => ({
  id: `t${++seq}`,
  cpuMilli: cpuCores * 1000,
  memoryMiB: 1024,
  gpus,
  gpuMilli,
  models: null,
  ...extra,
});

/** place runs tasks through one policy and returns "node:gpus" per task ("-" = failed). */
function place(
  nodes: ShareNodeSpec[],
  tasks: ShareTask[],
  policy: PolicyName,
  typical: ShareTask[] = tasks,
  pre: [ShareTask, number, number[]][] = [],
): { where: string[]; cluster: SharingCluster } {
  const cluster = new SharingCluster(nodes);
  for (const [t, n, g] of pre) cluster.place(t, { node: n, gpus: g });
  const model = new FragmentationModel(typicalTasks(typical));
  const ctx = { cluster, policy: makePolicy(policy, cluster, model), rng: mulberry32(1) };
  const where = tasks.map((t) => {
    const p = placeTask(ctx, t);
    return p ? `${p.node}:${p.gpus.join('+')}` : '-';
  });
  return { where, cluster };
}

// Two nodes: A = 16 cores, 2 GPUs; B = 64 cores, 8 GPUs.
const AB = () => [node('A', 16, 2), node('B', 64, 8)];

test('bestfit: the node left with the least free CPU + GPU wins', () => {
  // 1 GPU + 4 cores: A leaves 12/128*.5 + 1/8*.5 = .109 (score 89), B .672 (32) -> A.
  // Then 2 GPUs: only B has 2 free whole GPUs. Then a fraction of 0.5: A's free GPU (A has 1 whole).
  const { where } = place(AB(), [task(4, 1, 1000), task(4, 2, 1000), task(2, 1, 500)], 'bestfit');
  assert.deepEqual(where, ['0:0', '1:0+1', '0:1']);
});

test('packing: shared GPUs first, then free GPUs of used nodes, then the smallest free node', () => {
  // Empty nodes score 33 - GPUs: A 31 > B 25 -> A. The fraction then prefers A's used node (49)
  // over idle B (25); the next fraction reuses the partly used GPU (95). A whole GPU then needs B.
  const { where } = place(AB(), [task(1, 1, 1000), task(1, 1, 500), task(1, 1, 300), task(1, 1, 1000)], 'packing');
  assert.deepEqual(where, ['0:0', '0:1', '0:1', '1:0']);
});

test('dotprod: the node whose free vector is least aligned with the request wins', () => {
  // 1 GPU + 4 cores: A 1 - (16*4/128^2 + 2*1/64)/2 -> 98, B 1 - (64*4/128^2 + 8*1/64)/2 -> 92 -> A.
  const { where } = place(AB(), [task(4, 1, 1000)], 'dotprod');
  assert.deepEqual(where, ['0:0']);
});

test('clustering: tasks of one kind gather on nodes that hold only that kind', () => {
  // 1-GPU task: both idle (25) -> first node A. A fraction: A holds "1-gpu" only (0 + 21) < idle B
  // (25) -> B. Second fraction: B holds only "share-gpu" (75 + 1) -> B, best-fit GPU (the used one).
  const { where } = place(AB(), [task(1, 1, 1000), task(1, 1, 500), task(1, 1, 300)], 'clustering');
  assert.deepEqual(where, ['0:0', '1:0', '1:0']);
});

test('random: only feasible nodes, seeded', () => {
  // B is the only node with 4 GPUs; repeat runs give the same sequence.
  const tasks = [task(1, 4, 1000), task(1, 1, 200), task(1, 1, 200), task(1, 1, 200)];
  const a = place(AB(), tasks, 'random').where;
  const b = place(AB(), tasks, 'random').where;
  assert.equal(a[0].split(':')[0], '1');
  assert.deepEqual(a, b);
});

test('fgd: a fraction goes where its leftover is already unusable by the typical tasks', () => {
  // Typical: 1 x 700 milli. Node 0 has a GPU with 500 free (already fragment for 700-tasks: F=500),
  // node 1 a whole GPU (F=0). A 300 task on node 0: F 500 -> 200 (delta -300, score 57); on node 1
  // 1000 -> 700 still fits a 700-task (delta 0, score 50). FGD picks node 0.
  const typical = [task(1, 1, 700)];
  const pre: [ShareTask, number, number[]][] = [[task(1, 1, 500), 0, [0]]];
  const { where } = place([node('A', 16, 1), node('B', 16, 1)], [task(1, 1, 300)], 'fgd', typical, pre);
  assert.deepEqual(where, ['0:0']);
});

test('gigafab: sees GPUs stranded behind CPU, which FGD does not', () => {
  // Typical: 1 GPU + 10 cores. Node 0: 40 cores, 2 GPUs; node 1: 12 cores, 2 GPUs. A 1 GPU + 2
  // cores task changes FGD's fragmentation nowhere (one typical task still fits both before and
  // after), so FGD takes the first node. Copies: node 1 can run only one 10-core copy, so one of its
  // GPUs is stranded (F' = 1000); using it for the small task brings F' to 0 (delta -1000 x 0.3).
  const nodes = [node('big-cpu', 40, 2), node('small-cpu', 12, 2)];
  const typical = [task(10, 1, 1000)];
  assert.deepEqual(place(nodes, [task(2, 1, 1000)], 'fgd', typical).where, ['0:0']);
  assert.deepEqual(place(nodes, [task(2, 1, 1000)], 'gigafab', typical).where, ['1:0']);
});

test('every policy: CPU, memory and GPU model are respected; a task that fits nowhere fails', () => {
  const nodes = [node('cpu-poor', 2, 4, 'T4'), node('mem-poor', 64, 4, 'T4', 1024), node('v100', 64, 4, 'V100')];
  for (const p of POLICY_NAMES) {
    // 4 cores + 2 GiB: cpu-poor lacks CPU, mem-poor lacks memory -> v100 (node 2).
    const a = place(nodes, [task(4, 1, 1000, { memoryMiB: 2048 })], p).where;
    assert.deepEqual(a, ['2:0'], p);
    // Model constraint T4 with 4 cores: only T4 nodes, which both lack CPU or memory -> fails.
    const b = place(nodes, [task(4, 1, 1000, { memoryMiB: 2048, models: ['T4'] })], p).where;
    assert.deepEqual(b, ['-'], p);
    // Model constraint T4 with 1 core and little memory: cpu-poor or mem-poor.
    const c = place(nodes, [task(1, 1, 500, { memoryMiB: 512, models: ['T4'] })], p).where;
    assert.notEqual(c[0].split(':')[0], '2', p);
  }
});

test('fractions never exceed a GPU and accounting adds up (every policy, random mix)', () => {
  for (const p of POLICY_NAMES) {
    const rng = mulberry32(99);
    const tasks: ShareTask[] = [];
    for (let i = 0; i < 400; i++) {
      const r = rng();
      if (r < 0.6) tasks.push(task(1 + Math.floor(rng() * 6), 1, 50 + Math.floor(rng() * 900)));
      else if (r < 0.85) tasks.push(task(2, 1 + Math.floor(rng() * 2), 1000));
      else tasks.push(task(3, 0, 0));
    }
    const nodes = [node('a', 32, 2, 'T4'), node('b', 96, 8, 'G2'), node('c', 16, 1, 'P100'), node('d', 64, 4, 'V100')];
    const { where, cluster } = place(nodes, tasks, p);
    let used = 0;
    for (let i = 0; i < tasks.length; i++) if (where[i] !== '-') used += tasks[i].gpus * tasks[i].gpuMilli;
    let free = 0;
    for (const f of cluster.gpuFree) {
      assert.ok(f >= 0 && f <= 1000, `${p}: GPU free ${f}`);
      free += f;
    }
    assert.equal(cluster.usedGpuMilli, used, p);
    assert.equal(free + used, cluster.totalGpuMilli, p);
    for (let n = 0; n < cluster.size; n++) assert.ok(cluster.cpuFree[n] >= 0 && cluster.memFree[n] >= 0, p);
    assert.ok(where.includes('-'), `${p}: the mix overloads the cluster`);
  }
});

test('a fractional GPU is never shared across tenants', () => {
  const nodes = [node('one-gpu', 64, 1), node('two-gpu', 64, 2)];
  for (const p of POLICY_NAMES) {
    // A fills part of node 0's GPU; B's fraction must not land on it even though it fits.
    const pre: [ShareTask, number, number[]][] = [[task(1, 1, 300, { tenant: 'A' }), 0, [0]]];
    const { where } = place(nodes, [task(1, 1, 300, { tenant: 'B' }), task(1, 1, 300, { tenant: 'A' })], p, undefined, pre);
    assert.equal(where[0].split(':')[0], '1', `${p}: tenant B must not share A's GPU`);
    const cluster = new SharingCluster(nodes);
    cluster.place(task(1, 1, 300, { tenant: 'A' }), { node: 0, gpus: [0] });
    assert.throws(() => cluster.place(task(1, 1, 300, { tenant: 'B' }), { node: 0, gpus: [0] }), /cannot take/);
    cluster.place(task(1, 1, 300, { tenant: 'A' }), { node: 0, gpus: [0] });
  }
});

test('malformed tasks are rejected with a reason', () => {
  assert.match(validateTask(task(1, 2, 500)) ?? '', /one GPU only/);
  assert.match(validateTask(task(1, 0, 300)) ?? '', /CPU-only/);
  assert.match(validateTask(task(1, 1, 1500)) ?? '', /1\.\.1000/);
  assert.equal(validateTask(task(1, 1, 999)), null);
});

test('typical tasks: most popular shapes until 95 % coverage, weights renormalised', () => {
  const ts: ShareTask[] = [];
  for (let i = 0; i < 60; i++) ts.push(task(4, 1, 1000));
  for (let i = 0; i < 36; i++) ts.push(task(2, 1, 500));
  for (let i = 0; i < 3; i++) ts.push(task(8, 0, 0));
  ts.push(task(16, 8, 1000));
  // 60 + 36 = 96 >= 95: two shapes, weights 60/96 and 36/96.
  const typ = typicalTasks(ts);
  assert.equal(typ.length, 2);
  assert.deepEqual(
    typ.map((t) => [t.cpuMilli, t.gpus, t.gpuMilli]),
    [
      [4000, 1, 1000],
      [2000, 1, 500],
    ],
  );
  assert.ok(Math.abs(typ[0].weight - 60 / 96) < 1e-12 && Math.abs(typ[1].weight - 36 / 96) < 1e-12);
  // F_n(M) of a node with GPUs free [1000, 300] and 3 cores: the 4-core task cannot run (all 1300
  // fragmented), the 500-milli task can, but not on the 300 GPU -> 60/96 * 1300 + 36/96 * 300.
  const m = new FragmentationModel(typ);
  assert.ok(Math.abs(m.fragOf(3000, 'X', [1000, 300], 0, 2) - ((60 / 96) * 1300 + (36 / 96) * 300)) < 1e-9);
});

test('same seed, same placements (every policy)', () => {
  const rng = mulberry32(5);
  const tasks = Array.from({ length: 200 }, () => task(1 + Math.floor(rng() * 4), 1, 100 + Math.floor(rng() * 900)));
  for (const p of POLICY_NAMES) assert.deepEqual(place(AB(), tasks, p).where, place(AB(), tasks, p).where, p);
});
