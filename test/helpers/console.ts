/**
 * What the console's end-to-end tests share: a fresh signed-in browser context per scenario, the
 * check that nothing unexpected reached the browser console, and the screenshots for the docs.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { collectErrors, type PageErrors } from './browser.js';
import { REPO } from './server.js';

export const SHOTS = join(REPO, 'test-results', 'screenshots');
const DOC_SHOTS = join(REPO, 'docs', 'screenshots');

export interface Session {
  context: BrowserContext;
  page: Page;
  errors: PageErrors;
}

/** The server serves dist/console: fail early with the fix rather than with a blank page. */
export function assertConsoleBuilt(): void {
  assert.ok(existsSync(join(REPO, 'dist/console/index.html')), 'dist/console is missing: run `npm run build` first');
  mkdirSync(SHOTS, { recursive: true });
}

/** A fresh browser context (its own sessionStorage) at base + path, signed in with token if given. */
export async function openConsole(
  browser: Browser,
  base: string,
  token: string | undefined,
  path: string,
  viewport: { width: number; height: number },
): Promise<Session> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = collectErrors(page);
  if (token) {
    await context.addInitScript((t) => {
      if (!sessionStorage.getItem('gigafab.token')) sessionStorage.setItem('gigafab.token', t);
    }, token);
  }
  await page.goto(`${base}${path}`);
  return { context, page, errors };
}

export async function closeConsole(s: Session, allowed: RegExp[] = []): Promise<void> {
  await s.context.close();
  assert.deepEqual(s.errors.unexpected(allowed), [], 'errors in the browser console');
}

/** text reads what an element says (textContent: independent of layout). */
export const text = async (l: Locator) => (await l.textContent()) ?? '';

export const shot = (page: Page, name: string, fullPage = false) =>
  page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });

/** With GIGAFAB_UPDATE_SCREENSHOTS=1, copies the screenshots that keep() accepts to docs/screenshots/. */
export function updateDocScreenshots(keep: (file: string) => boolean): void {
  if (process.env.GIGAFAB_UPDATE_SCREENSHOTS !== '1' || !existsSync(SHOTS)) return;
  mkdirSync(DOC_SHOTS, { recursive: true });
  for (const f of readdirSync(SHOTS)) if (keep(f)) copyFileSync(join(SHOTS, f), join(DOC_SHOTS, f));
}

/** chartBars: per series of a drawn day chart (`testid`), its bars' days and figures as drawn. */
export async function chartBars(page: Page, testid: string): Promise<Map<string, { day: string; value: number }[]>> {
  const out = new Map<string, { day: string; value: number }[]>();
  for (const g of await page.locator(`[data-testid=${testid}] g[data-series]`).all()) {
    const rects = await g
      .locator('rect')
      .evaluateAll((els) =>
        els.map((e) => ({ day: e.getAttribute('data-day') ?? '', value: Number(e.getAttribute('data-value')) })),
      );
    out.set((await g.getAttribute('data-series')) ?? '', rects);
  }
  return out;
}
