/**
 * Verifiable placements of the FGD scenario: `--placements-out` rows re-applied by a small checker
 * written here from the documented format alone (it shares no code with the placement: its own CSV
 * reading and its own capacity arithmetic), `--arrival-order` replays, and the derived families of
 * `--derive`. Fixtures in the trace's own formats (test/sim/fixtures/fgd); never the real trace.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseJson } from '../../src/model/json.js';
import { isFractional, type ShareTask } from '../../src/scheduler/sharing/cluster.js';
import { POLICY_NAMES } from '../../src/scheduler/sharing/policies.js';
import { deriveWorkload, parseDerive } from '../../src/sim/fgd/derive.js';
import { PLACEMENTS_HEADER, placementRow } from '../../src/sim/fgd/placements.js';
import { policyModels, runPlacement } from '../../src/sim/fgd/scenario.js';
import { readOpenbNodes, readOpenbTasks } from '../../src/sim/importers/alibaba.js';
import { simulateCli as cli } from '../helpers/sim-cli.js';

const FIX = fileURLToPath(new URL('../../../test/sim/fixtures/fgd/', import.meta.url));
const OPENB = join(FIX, 'openb');
const tmp = mkdtempSync(join(tmpdir(), 'gigafab-fgd-placements-'));

// ------------------------------------------------------------------ the independent checker

interface CheckNode {
  cpu: number;
  mem: number;
  model: string;
  gpuFree: number[];
  gpuTenant: (string | null)[];
}
interface CheckTask {
  cpu: number;
  mem: number;
  gpus: number;
  milli: number;
  models: string[];
  tenant: string;
}

/** csvRows: header -> objects, plain CSV as documented (no quoting). */
function csvRows(text: string): Record<string, string>[] {
  const [head, ...lines] = text.split('\n').filter((l) => l !== '');
  const cols = head.split(',');
  return lines.map((l) => {
    const f = l.split(',');
    return Object.fromEntries(cols.map((c, i) => [c, f[i] ?? '']));
  });
}

function canTake(n: CheckNode, t: CheckTask): boolean {
  if (n.cpu < t.cpu || n.mem < t.mem) return false;
  if (t.gpus === 0) return true;
  if (t.models.length > 0 && !t.models.includes(n.model)) return false;
  const usable = n.gpuFree.filter((free, g) =>
    t.milli === 1000 ? free === 1000 : free >= t.milli && (free === 1000 || n.gpuTenant[g] === t.tenant),
  );
  return usable.length >= t.gpus;
}

/**
 * checkPlacements re-applies every run of a placements file on fresh nodes and returns the
 * violations: over-full CPU, memory or GPU, a GPU index twice or out of range, a whole-GPU task on
 * a used GPU, a model the task may not use, fractions of two tenants on one GPU, a GPU share that
 * is not the task's, a broken index sequence, and a "failed" task that did fit somewhere.
 */
function checkPlacements(
  text: string,
  nodeCsv: string,
  tasksOf: (workload: string) => Map<string, CheckTask>,
): { runs: number; rows: number; placed: number; errors: string[] } {
  const nodeRows = csvRows(nodeCsv).filter((r) => Number(r.gpu) > 0);
  const fresh = () =>
    new Map<string, CheckNode>(
      nodeRows.map((r) => [
        r.sn,
        {
          cpu: Number(r.cpu_milli),
          mem: Number(r.memory_mib),
          model: r.model,
          gpuFree: Array(Number(r.gpu)).fill(1000),
          gpuTenant: Array(Number(r.gpu)).fill(null),
        },
      ]),
    );
  const errors: string[] = [];
  const runs = new Map<string, { nodes: Map<string, CheckNode>; next: number }>();
  let rows = 0;
  let placed = 0;
  assert.equal(text.split('\n')[0], 'workload,policy,seed,index,task,node,gpus');
  for (const r of csvRows(text)) {
    rows++;
    const key = `${r.workload}/${r.policy}/${r.seed}`;
    let run = runs.get(key);
    if (!run) {
      run = { nodes: fresh(), next: 0 };
      runs.set(key, run);
    }
    const where = `${key} #${r.index} ${r.task}`;
    if (Number(r.index) !== run.next) errors.push(`${where}: index out of sequence (expected ${run.next})`);
    run.next++;
    const t = tasksOf(r.workload).get(r.task);
    if (!t) {
      errors.push(`${where}: unknown task`);
      continue;
    }
    if (r.node === '') {
      if (r.gpus !== '') errors.push(`${where}: failed task with GPUs`);
      for (const [name, n] of run.nodes) if (canTake(n, t)) errors.push(`${where}: marked failed but fits on ${name}`);
      continue;
    }
    placed++;
    const n = run.nodes.get(r.node);
    if (!n) {
      errors.push(`${where}: unknown node ${r.node}`);
      continue;
    }
    const gpus = r.gpus === '' ? [] : r.gpus.split('|').map((p) => p.split(':').map(Number));
    if (gpus.length !== t.gpus) errors.push(`${where}: ${gpus.length} GPUs for a ${t.gpus}-GPU task`);
    if (new Set(gpus.map(([g]) => g)).size !== gpus.length) errors.push(`${where}: a GPU twice`);
    if (t.gpus > 0 && t.models.length > 0 && !t.models.includes(n.model)) errors.push(`${where}: model ${n.model} not allowed`);
    n.cpu -= t.cpu;
    n.mem -= t.mem;
    if (n.cpu < 0 || n.mem < 0) errors.push(`${where}: CPU or memory of ${r.node} over-full`);
    for (const [g, milli] of gpus) {
      if (milli !== t.milli) errors.push(`${where}: GPU ${g} got ${milli} milli, the task asks ${t.milli}`);
      if (!(g >= 0 && g < n.gpuFree.length)) {
        errors.push(`${where}: GPU ${g} out of range`);
        continue;
      }
      if (milli === 1000 && n.gpuFree[g] !== 1000) errors.push(`${where}: whole GPU ${g} was in use`);
      if (milli < 1000) {
        if (n.gpuTenant[g] !== null && n.gpuTenant[g] !== t.tenant)
          errors.push(`${where}: GPU ${g} of ${r.node} shared by tenants ${n.gpuTenant[g]} and ${t.tenant}`);
        n.gpuTenant[g] = t.tenant;
      }
      n.gpuFree[g] -= milli;
      if (n.gpuFree[g] < 0) errors.push(`${where}: GPU ${g} of ${r.node} over 1000 milli`);
    }
  }
  return { runs: runs.size, rows, placed, errors };
}

/** podTasks: a pod list in the openb format, read by the checker's own parser. */
function podTasks(csv: string): Map<string, CheckTask> {
  return new Map(
    csvRows(csv).map((r) => [
      r.name,
      {
        cpu: Number(r.cpu_milli),
        mem: Number(r.memory_mib),
        gpus: Number(r.num_gpu),
        milli: Number(r.num_gpu) === 0 ? 0 : Number(r.gpu_milli),
        models: (r.gpu_spec ?? '').split('|').filter((m) => m !== ''),
        tenant: '',
      },
    ]),
  );
}

const NODE_CSV = readFileSync(join(OPENB, 'openb_node_list_gpu_node.csv'), 'utf8');
const TINY = podTasks(readFileSync(join(OPENB, 'openb_pod_list_tiny.csv'), 'utf8'));

// ------------------------------------------------------------------ the checker catches what it should

test('checker: finds over-full GPUs, cross-tenant fractions and a failure that would have fit', () => {
  const tasks = new Map<string, CheckTask>([
    ['a', { cpu: 1000, mem: 1, gpus: 1, milli: 600, models: [], tenant: 'A' }],
    ['b', { cpu: 1000, mem: 1, gpus: 1, milli: 600, models: [], tenant: 'A' }],
    ['c', { cpu: 1000, mem: 1, gpus: 1, milli: 300, models: [], tenant: 'B' }],
    ['w', { cpu: 1000, mem: 1, gpus: 2, milli: 1000, models: ['G2'], tenant: '' }],
  ]);
  const rows = (...r: string[]) => [PLACEMENTS_HEADER, ...r].join('\n');
  const check = (text: string) => checkPlacements(text, NODE_CSV, () => tasks).errors;
  assert.deepEqual(check(rows('x,p,1,0,a,openb-node-0001,0:600', 'x,p,1,1,b,openb-node-0001,1:600')), []);
  assert.match(check(rows('x,p,1,0,a,openb-node-0001,0:600', 'x,p,1,1,b,openb-node-0001,0:600')).join(), /over 1000/);
  assert.match(
    check(rows('x,p,1,0,a,openb-node-0001,0:600', 'x,p,1,1,c,openb-node-0001,0:300')).join(),
    /shared by tenants A and B/,
  );
  assert.match(check(rows('x,p,1,0,w,openb-node-0000,0:1000|1:1000')).join(), /model T4 not allowed/);
  assert.match(check(rows('x,p,1,0,a,,')).join(), /marked failed but fits/);
  assert.match(check(rows('x,p,1,1,a,openb-node-0001,0:600')).join(), /out of sequence/);
  assert.match(check(rows('x,p,1,0,a,openb-node-0001,0:500')).join(), /got 500 milli/);
});

// ------------------------------------------------------------------ placements of every policy pass it

test('every policy: placements re-applied by the checker fit, and fractions never span tenants', async () => {
  const nodes = await readOpenbNodes(join(OPENB, 'openb_node_list_gpu_node.csv'));
  const tenants = ['acme', 'globex', 'initech'];
  // 60 tasks of three tenants, most of them fractions, more than the 15 GPUs hold.
  const tasks: ShareTask[] = Array.from({ length: 60 }, (_, i) => {
    const kind = i % 6;
    return {
      id: `t${String(i).padStart(2, '0')}`,
      cpuMilli: 1000 + (i % 4) * 500,
      memoryMiB: 1024,
      gpus: kind === 5 ? 2 : kind === 4 ? 0 : 1,
      gpuMilli: kind === 5 ? 1000 : kind === 4 ? 0 : [250, 400, 700, 1000][kind],
      models: i % 10 === 3 ? ['V100M16', 'G2'] : null,
      tenant: tenants[i % 3],
    };
  });
  const byName = new Map<string, CheckTask>(
    tasks.map((t) => [
      t.id,
      {
        cpu: t.cpuMilli,
        mem: t.memoryMiB,
        gpus: t.gpus,
        milli: t.gpuMilli,
        models: t.models ? [...t.models] : [],
        tenant: t.tenant ?? '',
      },
    ]),
  );
  const models = policyModels(tasks, nodes);
  for (const policy of POLICY_NAMES) {
    const lines = [PLACEMENTS_HEADER];
    const run = runPlacement(nodes, tasks, policy, models, 7, 'first', (i, t, p) =>
      lines.push(placementRow('mix', policy, 7, i, t, p, nodes)),
    );
    const res = checkPlacements(lines.join('\n'), NODE_CSV, () => byName);
    assert.deepEqual(res.errors, [], policy);
    assert.equal(res.rows, 60);
    assert.equal(res.placed, 60 - run.failedTasks, policy);
    assert.ok(run.failedTasks > 0 && res.placed > 20, `${policy}: an overloaded cluster, ${res.placed} placed`);
    assert.ok(tasks.some((t) => isFractional(t)));
  }
});

// ------------------------------------------------------------------ the CLI: write, replay, check

const tiny = (...args: string[]) =>
  cli(['simulate', '--scenario', 'fgd', '--trace-dir', OPENB, '--workloads', 'tiny', ...args, '--no-progress']);

test('--placements-out and --arrival-order-out, replayed with --arrival-order: the same placements, all valid', async () => {
  const a = join(tmp, 'a.csv');
  const orders = join(tmp, 'orders');
  await tiny('--seeds', '1-3', '--placements-out', a, '--arrival-order-out', orders, '--out', join(tmp, 'ra'));
  const text = readFileSync(a, 'utf8');
  const res = checkPlacements(text, NODE_CSV, () => TINY);
  assert.deepEqual(res.errors, []);
  assert.equal(res.runs, 3 * POLICY_NAMES.length);
  const orderRows = csvRows(readFileSync(join(orders, 'tiny.csv'), 'utf8'));
  assert.equal(res.rows, orderRows.length * POLICY_NAMES.length);
  const seedOrder = (seed: string) =>
    orderRows
      .filter((r) => r.seed === seed)
      .map((r) => r.task)
      .join();
  assert.notEqual(seedOrder('1'), seedOrder('2'), 'each seed its own shuffle');
  assert.ok(seedOrder('3').length > 0);
  // Every run follows the written order, task by task.
  const order = new Map(orderRows.map((r) => [`${r.seed}/${r.index}`, r.task]));
  for (const r of csvRows(text)) assert.equal(r.task, order.get(`${r.seed}/${r.index}`));

  const b = join(tmp, 'b.csv');
  await tiny('--seeds', '1-3', '--placements-out', b, '--arrival-order', orders, '--out', join(tmp, 'rb'));
  assert.equal(readFileSync(b, 'utf8'), text);
});

test('--arrival-order replays an order written by someone else (every pod once, reversed)', async () => {
  const dir = join(tmp, 'external');
  mkdirSync(dir, { recursive: true });
  const names = [...TINY.keys()].reverse();
  writeFileSync(join(dir, 'tiny.csv'), `seed,index,task\n${names.map((n, i) => `5,${i},${n}`).join('\n')}\n`);
  const out = join(tmp, 'ext.csv');
  await tiny(
    '--seeds',
    '5',
    '--policies',
    'fgd,gigafab',
    '--placements-out',
    out,
    '--arrival-order',
    dir,
    '--out',
    join(tmp, 're'),
  );
  const rows = csvRows(readFileSync(out, 'utf8'));
  assert.deepEqual(
    rows.filter((r) => r.policy === 'fgd').map((r) => r.task),
    names,
  );
  assert.deepEqual(checkPlacements(readFileSync(out, 'utf8'), NODE_CSV, () => TINY).errors, []);
  // Broken order files are refused with the file, the line and the reason.
  writeFileSync(join(dir, 'tiny.csv'), 'seed,index,task\n5,0,openb-pod-0000\n5,2,openb-pod-0001\n');
  await assert.rejects(
    tiny('--seeds', '5', '--arrival-order', dir, '--out', join(tmp, 're')),
    /tiny\.csv:3: seed 5 expects index 1, got 2/,
  );
  writeFileSync(join(dir, 'tiny.csv'), 'seed,index,task\n5,0,nope\n');
  await assert.rejects(
    tiny('--seeds', '5', '--arrival-order', dir, '--out', join(tmp, 're')),
    /task "nope" is not in the pod list/,
  );
  writeFileSync(join(dir, 'tiny.csv'), 'seed,index,task\n5,0,openb-pod-0000\n');
  await assert.rejects(tiny('--seeds', '6', '--arrival-order', dir, '--out', join(tmp, 're')), /no arrival order for seed 6/);
  await assert.rejects(tiny('--arrival-order', join(tmp, 'none'), '--out', join(tmp, 're')), /--arrival-order: not found/);
});

// ------------------------------------------------------------------ derived families

test('derive: each kind reaches its share, deterministically, and keeps the rest of the list', async () => {
  const nodes = await readOpenbNodes(join(OPENB, 'openb_node_list_gpu_node.csv'));
  const { tasks } = await readOpenbTasks(join(OPENB, 'openb_pod_list_tiny.csv'));
  const req = (ts: readonly ShareTask[], f: (t: ShareTask) => boolean) =>
    ts.filter(f).reduce((s, t) => s + t.gpus * t.gpuMilli, 0) / ts.reduce((s, t) => s + t.gpus * t.gpuMilli, 0);

  const share = deriveWorkload(tasks, nodes, { kind: 'gpushare', share: 45 }, 1);
  assert.equal(share.length, tasks.length);
  assert.ok(req(tasks, isFractional) < 0.3);
  assert.ok(req(share, isFractional) >= 0.45 && req(share, isFractional) < 0.5, `${req(share, isFractional)}`);
  const less = deriveWorkload(tasks, nodes, { kind: 'gpushare', share: 5 }, 1);
  assert.ok(req(less, isFractional) <= 0.05);

  const multi = deriveWorkload(tasks, nodes, { kind: 'multigpu', share: 60 }, 1);
  assert.ok(req(multi, (t) => t.gpus >= 2) >= 0.6);
  assert.ok(multi.length > tasks.length);
  assert.ok(multi.slice(tasks.length).every((t) => /~multigpu\d+$/.test(t.id) && t.gpus >= 2));
  assert.equal(new Set(multi.map((t) => t.id)).size, multi.length, 'copies have their own names');

  const spec = deriveWorkload(tasks, nodes, { kind: 'gpuspec', share: 50 }, 1);
  const gpuTasks = spec.filter((t) => t.gpus > 0);
  assert.equal(gpuTasks.filter((t) => t.models).length, Math.round(gpuTasks.length / 2));
  for (const t of gpuTasks.filter((x) => x.models)) {
    assert.ok(
      nodes.some((n) => t.models?.includes(n.model) && n.gpus >= t.gpus && n.cpuMilli >= t.cpuMilli),
      `${t.id}: ${t.models?.join('|')} can hold it`,
    );
  }

  const cpu = deriveWorkload(tasks, nodes, { kind: 'cpu', share: 300 }, 1);
  assert.equal(cpu.filter((t) => t.gpus === 0).length, 3 * tasks.filter((t) => t.gpus === 0).length);
  assert.equal(deriveWorkload(tasks, nodes, { kind: 'cpu', share: 0 }, 1).filter((t) => t.gpus === 0).length, 0);

  // Same seed, same list, whatever the input order; another seed, another list.
  assert.deepEqual(deriveWorkload([...tasks].reverse(), nodes, { kind: 'gpuspec', share: 50 }, 1), spec);
  assert.notDeepEqual(deriveWorkload(tasks, nodes, { kind: 'gpuspec', share: 50 }, 2), spec);
  assert.equal(tasks[5].models?.join('|'), 'V100M16|G2', 'the input is not changed');
});

test('parseDerive: kinds and shares, with sentences for bad input', () => {
  assert.deepEqual(parseDerive('multigpu=30'), { kind: 'multigpu', share: 30 });
  assert.deepEqual(parseDerive('cpu=250'), { kind: 'cpu', share: 250 });
  assert.match(String(parseDerive('gpuspec')), /expected KIND=SHARE/);
  assert.match(String(parseDerive('colour=3')), /unknown --derive kind "colour"/);
  assert.match(String(parseDerive('gpuspec=120')), /at most 100/);
});

test('--derive on the CLI: derived families run, their pod lists are written, their placements check', async () => {
  const out = join(tmp, 'derived');
  const pl = join(tmp, 'derived.csv');
  const { out: table } = await tiny(
    '--seeds',
    '1',
    '--policies',
    'fgd,gigafab',
    '--derive',
    'gpuspec=50,multigpu=40',
    '--placements-out',
    pl,
    '--out',
    out,
  );
  assert.match(table, /tiny~gpuspec50/);
  assert.match(table, /tiny~multigpu40/);
  const lists = new Map(
    ['tiny~gpuspec50', 'tiny~multigpu40'].map((w) => [w, podTasks(readFileSync(join(out, `openb_pod_list_${w}.csv`), 'utf8'))]),
  );
  const res = checkPlacements(readFileSync(pl, 'utf8'), NODE_CSV, (w) => lists.get(w) ?? new Map());
  assert.deepEqual(res.errors, []);
  assert.equal(res.runs, 4);
  const json = parseJson(
    readFileSync(join(out, 'fgd-results.json'), 'utf8'),
    z.object({ workloads: z.array(z.object({ derivedFrom: z.unknown() })) }),
    'fgd-results.json',
  );
  assert.deepEqual(json.workloads[0].derivedFrom, { workload: 'tiny', kind: 'gpuspec', share: 50, seed: 1 });
  await assert.rejects(tiny('--derive', 'gpuspec=x', '--out', out), /invalid --derive "gpuspec=x"/);
});
