/**
 * Benchmark: the web console in headless Chromium against a real server on localhost.
 * - first load: navigation → login form, and navigation → fleet map drawn (all 10,240 GPUs of the
 *   demo fleet), each in a fresh browser context (empty cache), median of LOADS;
 * - production bundle: gzip size of dist/console/assets/*.js + *.css against BUNDLE_BUDGET_KIB;
 * - fleet map: full redraw of 10,240 GPUs where every GPU changes colour, median/p95 of REDRAWS,
 *   at 1280×800 and 3840×2160; once as measured by the console itself (colouring + pixel writes
 *   + putImageData) and once with a forced pixel read-back (the canvas has really been written);
 * - the /v1/fleet/gpus snapshot the map polls: bytes and fetch latency.
 * Some load is put on the fleet first so the map is not uniformly free.
 *
 * Run: `npm run build && node dist/bench/console.js` (prints JSON). Needs scripts/ensure-chromium.sh.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../test/helpers/browser.js';
import { api, REPO, startTestServer, type TestServer } from '../test/helpers/server.js';
import { tenantToken } from '../test/helpers/tenants.js';

const BUNDLE_BUDGET_KIB = 250;
const LOADS = 7;
const REDRAWS = 50;

const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : Number.NaN;
}
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function bundleSize() {
  const dir = join(REPO, 'dist/console/assets');
  const files = readdirSync(dir).filter((f) => f.endsWith('.js') || f.endsWith('.css'));
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const body = readFileSync(join(dir, f));
    raw += body.length;
    gzip += gzipSync(body, { level: 9 }).length;
  }
  const gzipKiB = round(gzip / 1024, 1);
  return {
    files: files.length,
    rawKiB: round(raw / 1024, 1),
    gzipKiB,
    budgetGzipKiB: BUNDLE_BUDGET_KIB,
    withinBudget: gzipKiB <= BUNDLE_BUDGET_KIB,
  };
}

/** Put some jobs on the fleet so the map has allocated GPUs of several organisations. */
async function loadFleet(server: TestServer): Promise<void> {
  const op = api(server.url, server.operatorToken);
  for (const org of ['bench-a', 'bench-b', 'bench-c']) {
    await op('POST', '/v1/orgs', { id: org, name: org, kind: 'research' });
    await op('POST', `/v1/orgs/${org}/projects`, { id: `${org}-p` });
    await op('PUT', `/v1/projects/${org}-p/quotas/B200`, { gpus: 2048 });
    await op('PUT', `/v1/projects/${org}-p/quotas/RTX-PRO-6000`, { gpus: 512 });
    const member = api(server.url, await tenantToken(op, org, { name: org, role: 'member' }));
    for (let i = 0; i < 60; i++) {
      await member('POST', '/v1/jobs', {
        name: `b${i}`,
        project: `${org}-p`,
        gpuType: i % 5 === 0 ? 'RTX-PRO-6000' : 'B200',
        gpusPerNode: [1, 2, 4, 8][i % 4],
        nodes: i % 7 === 0 ? 4 : 1,
        simulation: { durationSeconds: 86_000 },
      });
    }
  }
  await op('POST', '/v1/nodes/muc1-b200-0100/drain', { reason: 'bench' });
  await new Promise((r) => setTimeout(r, 1000));
}

async function firstLoads(browser: Browser, server: TestServer) {
  const login: number[] = [];
  const map: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await page.goto(`${server.url}/`);
    await page.getByLabel('API token').waitFor();
    login.push(await page.evaluate(() => performance.getEntriesByName('console:rendered')[0]!.startTime));
    await ctx.close();

    const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx2.addInitScript((t) => sessionStorage.setItem('gigafab.token', t), server.operatorToken);
    const page2 = await ctx2.newPage();
    await page2.goto(`${server.url}/fleet`);
    await page2.waitForFunction(() => performance.getEntriesByName('fleetmap:first-draw').length > 0, null, { timeout: 30_000 });
    map.push(await page2.evaluate(() => performance.getEntriesByName('fleetmap:first-draw')[0]!.startTime));
    await ctx2.close();
  }
  return {
    loads: LOADS,
    loginFormMs: round(median(login), 1),
    fleetMapDrawnMs: round(median(map), 1),
    note: 'ms from navigation start to the performance marks console:rendered (login form) and fleetmap:first-draw (map of all GPUs drawn, after whoami and the /v1/fleet/gpus snapshot); fresh browser context (empty cache) each time; localhost',
  };
}

async function redraws(browser: Browser, server: TestServer, width: number, height: number) {
  const ctx = await browser.newContext({ viewport: { width, height } });
  await ctx.addInitScript((t) => sessionStorage.setItem('gigafab.token', t), server.operatorToken);
  const page = await ctx.newPage();
  await page.goto(`${server.url}/fleet`);
  await page.waitForFunction(() => document.querySelector<HTMLElement>('[data-testid=fleet-map]')?.dataset.gpuCount === '10240');
  const run = (flush: boolean) =>
    page.evaluate(
      async ({ n, flush }) => {
        const canvas = document.querySelector<HTMLElement>('[data-testid=fleet-map]')!;
        const out: number[] = [];
        for (let i = 0; i < n + 5; i++) {
          canvas.dispatchEvent(new CustomEvent('fleetmap:redraw', { detail: { rotate: true, flush } }));
          if (i >= 5) out.push(Number(canvas.dataset.lastDrawMs)); // the first few warm the JIT up
          await new Promise((r) => requestAnimationFrame(r));
        }
        return out;
      },
      { n: REDRAWS, flush },
    );
  const plain = await run(false);
  const flushed = await run(true);
  const gpus = Number(await page.getByTestId('fleet-map').getAttribute('data-gpu-count'));
  await ctx.close();
  return {
    viewport: `${width}x${height}`,
    gpus,
    redraws: REDRAWS,
    medianMs: round(median(plain), 3),
    p95Ms: round(quantile(plain, 0.95), 3),
    withReadbackMedianMs: round(median(flushed), 3),
    withReadbackP95Ms: round(quantile(flushed, 0.95), 3),
  };
}

async function snapshotCost(server: TestServer) {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const r = await fetch(`${server.url}/v1/fleet/gpus`, { headers: { authorization: `Bearer ${server.operatorToken}` } });
    bytes = (await r.arrayBuffer()).byteLength;
    times.push(performance.now() - t0);
  }
  return { bytes, medianMs: round(median(times), 2), p95Ms: round(quantile(times, 0.95), 2) };
}

export async function benchConsole(): Promise<Record<string, unknown>> {
  if (!existsSync(join(REPO, 'dist/console/index.html'))) throw new Error('dist/console is missing: run `npm run build` first');
  const server = await startTestServer({ timeScale: 1 });
  let browser: Browser | null = null;
  try {
    await loadFleet(server);
    browser = await launchChromium();
    return {
      bundle: bundleSize(),
      firstLoad: await firstLoads(browser, server),
      fleetMapRedraw: [await redraws(browser, server, 1280, 800), await redraws(browser, server, 3840, 2160)],
      fleetGpusSnapshot: await snapshotCost(server),
      browser: browser.version(),
    };
  } finally {
    await browser?.close();
    await server.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchConsole(), null, 2));
}
