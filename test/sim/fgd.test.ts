/**
 * The FGD scenario (src/sim/fgd) and the openb task/node importer, on small fixtures written in the
 * trace's own formats (test/sim/fixtures/fgd; never the real trace): importer fields and errors,
 * the protocol's shuffle + inflation, determinism, and `gigafab simulate --scenario fgd` end to end.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ShareTask } from '../../src/scheduler/sharing/cluster.js';
import { readPaperSummary } from '../../src/sim/fgd/paper.js';
import { pyRound0, pyRound2 } from '../../src/sim/fgd/paper-rounding.js';
import { arrivalOrder, policyModels, runFgdScenario, runPlacement, summarize } from '../../src/sim/fgd/scenario.js';
import { readOpenbNodes, readOpenbTasks } from '../../src/sim/importers/alibaba.js';
import { simulateCli as cli, openReport } from '../helpers/sim-cli.js';

// dist/test/sim -> repository root -> the fixtures next to this file's source.
const FIX = fileURLToPath(new URL('../../../test/sim/fixtures/fgd/', import.meta.url));
const OPENB = join(FIX, 'openb');
const tmp = mkdtempSync(join(tmpdir(), 'gigafab-fgd-'));

test('openb importer: pod list as tasks (fractions, CPU-only, GPU-model constraint)', async () => {
  const { tasks, stats } = await readOpenbTasks(join(OPENB, 'openb_pod_list_tiny.csv'));
  assert.equal(tasks.length, 24);
  assert.equal(stats.rows, 24);
  assert.deepEqual(tasks[0], { id: 'openb-pod-0000', cpuMilli: 4000, memoryMiB: 8192, gpus: 1, gpuMilli: 1000, models: null });
  assert.deepEqual(tasks[1].gpuMilli, 500);
  assert.deepEqual(tasks[4], { id: 'openb-pod-0004', cpuMilli: 6000, memoryMiB: 12288, gpus: 0, gpuMilli: 0, models: null });
  assert.deepEqual(tasks[5].models, ['V100M16', 'G2']);
  assert.ok((stats.adjusted.fractional_gpu_pod ?? 0) >= 3);
  assert.ok((stats.adjusted.cpu_only_pod ?? 0) >= 1);
});

test('openb importer: multigpu format (no gpu_spec column) and node list', async () => {
  const { tasks } = await readOpenbTasks(join(OPENB, 'openb_pod_list_multigpu_tiny.csv'));
  assert.deepEqual(
    tasks.map((t) => [t.gpus, t.gpuMilli, t.models]),
    [
      [2, 1000, null],
      [1, 300, null],
      [0, 0, null],
    ],
  );
  const nodes = await readOpenbNodes(join(OPENB, 'openb_node_list_gpu_node.csv'));
  assert.deepEqual(nodes[1], { name: 'openb-node-0001', cpuMilli: 64000, memoryMiB: 262144, gpus: 8, model: 'G2' });
  assert.equal(
    nodes.reduce((s, n) => s + n.gpus, 0),
    15,
  );
});

test('openb importer: bad rows fail with file, line and column', async () => {
  const bad = join(tmp, 'openb_pod_list_bad.csv');
  writeFileSync(bad, 'name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,10,1,500\np1,1000,10,2,500\n');
  await assert.rejects(readOpenbTasks(bad), /openb_pod_list_bad\.csv:3: .*one GPU only/);
  const missing = join(tmp, 'openb_pod_list_missing.csv');
  writeFileSync(missing, 'name,cpu_milli,num_gpu\np0,1,1\n');
  await assert.rejects(readOpenbTasks(missing), /missing column\(s\) memory_mib, gpu_milli/);
});

const t = (id: string, gpus: number, gpuMilli: number): ShareTask => ({
  id,
  cpuMilli: 1000,
  memoryMiB: 1,
  gpus,
  gpuMilli,
  models: null,
});

test('protocol: shuffle per seed, inflate with copies until the next one would pass the target', () => {
  const tasks = [t('c', 1, 1000), t('a', 1, 500), t('b', 2, 1000), t('d', 0, 0)];
  const order = arrivalOrder(tasks, 42, 13_000);
  const total = order.reduce((s, x) => s + x.gpus * x.gpuMilli, 0);
  assert.ok(total <= 13_000 && total > 13_000 - 2000, `total ${total}`);
  assert.deepEqual(
    order
      .slice(0, 4)
      .map((x) => x.id)
      .sort(),
    ['a', 'b', 'c', 'd'],
  ); // the originals first
  assert.deepEqual(arrivalOrder(tasks, 42, 13_000), order); // same seed, same order
  assert.notDeepEqual(
    arrivalOrder(tasks, 43, 13_000).map((x) => x.id),
    order.map((x) => x.id),
  );
  // Input order does not matter (sorted by name first).
  assert.deepEqual(arrivalOrder([...tasks].reverse(), 42, 13_000), order);
  // A list that asks for more than the target loses random tasks until it fits.
  const cut = arrivalOrder(tasks, 42, 2000);
  assert.ok(cut.reduce((s, x) => s + x.gpus * x.gpuMilli, 0) <= 2000);
});

test('placement run: unallocated % is 100 - allocated %, sampled against arrived %', () => {
  // One node with 2 GPUs; tasks 1, 1, 1 GPU: arrived 50 % (alloc 50), 100 % (100), 150 % (fails,
  // 100; past 130 %, not sampled). Buckets between samples repeat the one before.
  const nodes = [{ name: 'n', cpuMilli: 64_000, memoryMiB: 1 << 20, gpus: 2, model: 'X' }];
  const order = [t('a', 1, 1000), t('b', 1, 1000), t('c', 1, 1000)];
  const run = runPlacement(nodes, order, 'fgd', policyModels(order, nodes), 1);
  assert.equal(run.unallocated[50], 50);
  assert.equal(run.unallocated[100], 0);
  assert.equal(run.unallocated[75], 50);
  assert.equal(run.unallocated[130], 0);
  assert.equal(run.failedTasks, 1);
  assert.equal(run.failedGpuMilli, 1000);
});

test("bucketing 'paper' rounds each sample and each bucket mean to 2 decimals, as the authors' analysis", () => {
  // One node with 3 GPUs; one 1-GPU task: arrived and allocated 33.333… % (bucket 33).
  const nodes = [{ name: 'n', cpuMilli: 64_000, memoryMiB: 1 << 20, gpus: 3, model: 'X' }];
  const order = [t('a', 1, 1000)];
  const models = policyModels(order, nodes);
  assert.equal(runPlacement(nodes, order, 'fgd', models, 1).unallocated[33], 66.6667);
  assert.equal(runPlacement(nodes, order, 'fgd', models, 1, 'first', undefined, 'paper').unallocated[33], 100 - 33.33);
  // Python's round: half to even on the exact binary value (0.125 and 84.5 are exact halves; 2.675 is below one).
  assert.deepEqual(
    [pyRound2(0.125), pyRound2(0.375), pyRound2(2.675), pyRound2(1.005), pyRound2(33.336)],
    [0.12, 0.38, 2.67, 1, 33.34],
  );
  assert.deepEqual([pyRound0(84.5), pyRound0(85.5), pyRound0(84.49), pyRound0(84.51)], [84, 86, 84, 85]);
});

test('scenario on the fixture: deterministic, every run accounted for', async () => {
  const opts = { traceDir: OPENB, workloads: ['tiny'], seeds: [1, 2], policies: ['random', 'fgd', 'gigafab'] as const };
  const a = await runFgdScenario({ ...opts, policies: [...opts.policies] });
  const b = await runFgdScenario({ ...opts, policies: [...opts.policies] });
  assert.deepEqual(a, b);
  assert.equal(a.runs.length, 6);
  assert.deepEqual(a.cluster, { nodes: 4, gpus: 15, cpuMilli: 208_000, file: 'openb_node_list_gpu_node.csv' });
  const s = summarize(a, 'tiny', 'fgd', 100);
  assert.ok(s && s.n >= 1 && s.median >= 0 && s.median <= 100);
});

test('paper summary: per workload x policy x arrived %', () => {
  const p = readPaperSummary(join(FIX, 'fgd-atc23-results', 'summary_unallocated_gpu_pct.csv'));
  assert.deepEqual(p.get('tiny|fgd|100'), { n: 10, median: 4.77, mean: 4.77, sd: 0.11 });
  assert.equal(p.get('tiny|random|100')?.median, 13.75);
  assert.equal(p.get('tiny|bestfit|100'), undefined);
});

/** The FGD scenario on the tiny fixture workload, without a progress bar. */
const fgdTiny = (...args: string[]) =>
  cli(['simulate', '--scenario', 'fgd', '--trace-dir', OPENB, '--workloads', 'tiny', ...args, '--no-progress']);

test('gigafab simulate --scenario fgd: table beside the paper, byte-identical JSON, HTML plot', async () => {
  const run = (dir: string) => fgdTiny('--seeds', '1-3', '--out', join(tmp, dir));
  const { out, err } = await run('a');
  await run('b');
  for (const p of ['random', 'dotprod', 'clustering', 'packing', 'bestfit', 'fgd', 'gigafab'])
    assert.match(out, new RegExp(`│ ${p} `));
  assert.match(out, /13\.75/); // the paper's Random median from the fixture summary, beside ours
  assert.match(out, /tiny: gigafab (beats|does not beat) FGD at 100% arrived/);
  assert.match(err, /wrote .*fgd-results\.json/);
  const a = readFileSync(join(tmp, 'a', 'fgd-results.json'), 'utf8');
  assert.equal(a, readFileSync(join(tmp, 'b', 'fgd-results.json'), 'utf8'));
  const parsed = JSON.parse(a) as { scenario: string; seeds: number[]; runs: unknown[]; summary: { paper: unknown }[] };
  assert.equal(parsed.scenario, 'fgd');
  assert.deepEqual(parsed.seeds, [1, 2, 3]);
  assert.equal(parsed.runs.length, 21);
  assert.ok(parsed.summary.some((s) => s.paper !== null));
  const html = readFileSync(join(tmp, 'a', 'fgd-report.html'), 'utf8');
  assert.match(html, /<svg[^>]*aria-label="tiny: unallocated GPU %/);
  assert.doesNotMatch(html, /<script/);
});

test('gigafab simulate --scenario fgd: usage errors exit non-zero with a reason', async () => {
  await assert.rejects(cli(['simulate', '--scenario', 'fgd', '--no-progress']), /needs --trace-dir/);
  await assert.rejects(
    cli(['simulate', '--scenario', 'fgd', '--trace-dir', OPENB, '--workloads', 'nope', '--no-progress']),
    /not found in .*openb_pod_list_nope\.csv/,
  );
  await assert.rejects(fgdTiny('--policies', 'fgd,magic'), /unknown policy "magic"/);
  await assert.rejects(fgdTiny('--seeds', 'x'), /invalid --seeds/);
});

const CHROMIUM = '/usr/bin/chromium';

test('fgd-report.html opens in Chromium without errors, self-contained, with its plot', {
  skip: !existsSync(CHROMIUM) && 'no /usr/bin/chromium',
}, async () => {
  const dir = join(tmp, 'html');
  await fgdTiny('--seeds', '1-2', '--out', dir);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await openReport(browser, join(dir, 'fgd-report.html'));
    assert.equal(await page.locator('svg').count(), 1);
    assert.ok((await page.locator('polyline').count()) >= 7);
    assert.match((await page.locator('table').first().textContent()) ?? '', /gigafab/);
  } finally {
    await browser.close();
  }
});
