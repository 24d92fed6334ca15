/**
 * `gigafab simulate` for the simulator's tests: the command registered on a bare commander program
 * (as program.ts does), and its HTML report opened in Chromium.
 */
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import type { Browser, Page } from 'playwright-core';
import { registerSimulate } from '../../src/cli/commands/simulate.js';

export async function simulateCli(args: string[]): Promise<{ out: string; err: string }> {
  let out = '';
  let err = '';
  const program = new Command('gigafab').exitOverride();
  registerSimulate(program, { io: { out: (s) => (out += s), err: (s) => (err += s) }, env: {} });
  await program.parseAsync(args, { from: 'user' });
  return { out, err };
}

/** openReport opens a report file and asserts it loads without errors and fetches nothing but files. */
export async function openReport(browser: Browser, file: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(file).href);
  assert.deepEqual(errors, []);
  assert.equal(requests.filter((u) => !u.startsWith('file:')).length, 0, 'the report must be self-contained');
  return page;
}
