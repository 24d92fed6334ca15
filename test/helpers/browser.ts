/**
 * Headless Chromium for the console's end-to-end tests and benchmark: Debian's /usr/bin/chromium
 * (installed by scripts/ensure-chromium.sh) driven by playwright-core, which cannot download a
 * browser on an offline machine. The flags keep Chromium off the network it cannot reach.
 */
import { existsSync } from 'node:fs';
import { type Browser, type ConsoleMessage, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.GIGAFAB_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (as root) first`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
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
}

/** PageErrors collects console errors and uncaught exceptions of a page. */
export interface PageErrors {
  all: string[];
  /** Errors not matching any allowed pattern (e.g. the 401 a wrong token is meant to get). */
  unexpected(allowed?: RegExp[]): string[];
}

export function collectErrors(page: Page): PageErrors {
  const all: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') all.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e: Error) => all.push(`pageerror: ${e.message}`));
  return {
    all,
    unexpected: (allowed = []) => all.filter((e) => !allowed.some((re) => re.test(e))),
  };
}

/**
 * Chromium logs every non-2xx fetch as a console error. A test that provokes one on purpose
 * allows exactly that status (and nothing else) with this pattern.
 */
export const httpStatusLogged = (status: number) =>
  new RegExp(`^console: Failed to load resource: the server responded with a status of ${status}\\b`);
