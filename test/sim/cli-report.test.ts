/**
 * `gigafab simulate` end to end (registered on a bare commander program, as program.ts does):
 * same seed -> byte-identical results.json; --compare puts variants side by side; the HTML report
 * opens in Chromium without console errors and carries its plots.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { simulateCli as cli, openReport } from '../helpers/sim-cli.js';

const base = mkdtempSync(join(tmpdir(), 'gigafab-simcli-'));

test('same seed -> byte-identical results.json; another seed differs', async () => {
  const run = async (dir: string, seed: number) => {
    await cli(['simulate', '--jobs', '3000', '--seed', String(seed), '--load', '1.1', '--out', join(base, dir), '--no-progress']);
    return readFileSync(join(base, dir, 'results.json'), 'utf8');
  };
  const a = await run('a', 42);
  const b = await run('b', 42);
  const c = await run('c', 43);
  assert.equal(a, b);
  assert.notEqual(a, c);
  const parsed = JSON.parse(a) as { runs: { summary: { jobs: { submitted: number } } }[] };
  assert.equal(parsed.runs[0].summary.jobs.submitted, 3000);
});

test('--compare runs every variant into one table and one report', async () => {
  const dir = join(base, 'cmp');
  const { out } = await cli([
    'simulate',
    '--jobs',
    '2000',
    '--tenants',
    '4',
    '--compare',
    'default,entitlement-quota,default@0.5',
    '--out',
    dir,
    '--no-progress',
  ]);
  assert.match(out, /default@0\.5/);
  assert.match(out, /entitlement-quota/);
  const res = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
    runs: { label: string; fleet: { gpus: number } }[];
  };
  assert.deepEqual(
    res.runs.map((r) => r.label),
    ['default', 'entitlement-quota', 'default@0.5'],
  );
  assert.ok(res.runs[2].fleet.gpus < res.runs[0].fleet.gpus);
});

const CHROMIUM = '/usr/bin/chromium';

test('report.html opens in Chromium without console errors', {
  skip: !existsSync(CHROMIUM) && 'no /usr/bin/chromium',
}, async () => {
  const dir = join(base, 'html');
  await cli(['simulate', '--jobs', '2000', '--load', '1.2', '--compare', 'default,default@1.5', '--out', dir, '--no-progress']);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
  try {
    const page = await openReport(browser, join(dir, 'report.html'));
    const svgs = await page.locator('svg').count();
    assert.ok(svgs >= 7, `expected >= 7 plots, got ${svgs}`);
    assert.ok((await page.locator('polyline').count()) > 10);
    assert.match((await page.locator('table').first().textContent()) ?? '', /queue delay p50/);
  } finally {
    await browser.close();
  }
});

test('--tenants applies only to synthetic workloads: with a trace it is refused, not silently used', async () => {
  const trace = join(base, 'cluster07.csv');
  writeFileSync(trace, 'job_id,user,vc,gpu_num,submit_time,duration\n');
  await assert.rejects(
    cli(['simulate', '--trace', trace, '--format', 'itp', '--tenants', '6', '--out', join(base, 'tn'), '--no-progress']),
    /--tenants applies only to synthetic workloads/,
  );
});

test('the default synthetic workload queues, and the summary explains its time-outs and its load', async () => {
  const dir = join(base, 'defaults');
  const { out } = await cli(['simulate', '--jobs', '12000', '--seed', '7', '--tenants', '20', '--out', dir, '--no-progress']);
  const res = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as {
    config: { synthetic: { targetLoad: number; diurnalAmplitude: number } };
    runs: { summary: { queueDelay: { p99: number }; jobs: { timedOut: number } } }[];
  };
  assert.deepEqual(res.config.synthetic, { targetLoad: 0.9, diurnalAmplitude: 0.5, timeoutFraction: 0.02 });
  assert.ok(res.runs[0].summary.queueDelay.p99 > 0, 'jobs wait at the daily peak');
  assert.ok(res.runs[0].summary.jobs.timedOut > 0);
  assert.match(out, /note: \d[\d,]* jobs timed out by design: the synthetic workload gives 2\.0% of jobs a wall limit/);
  assert.match(out, /note: arrivals follow a daily cycle: mean offered load 90\.0% of the fleet, peaking at 135\.0%/);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  // 20 tenants: six drawn each, the other 14 summed, so the legend stays readable.
  assert.match(html, /14 other tenants/);
  assert.match(html, /No job was preempted in default\./);
  assert.match(html, /jobs timed out by design/);
});
