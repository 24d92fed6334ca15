/**
 * The real CLI as a child process (`node bin/gigafab.js ...`) for the CLI end-to-end tests, with a
 * clean environment: only what is passed (plus PATH and a private HOME) is set, so a developer's own
 * gigafab config can never leak into a test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, REPO } from './server.js';

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

export type Gigafab = (args: string[], env: Record<string, string>, timeoutMs?: number) => Promise<CliRun>;

/** A fresh HOME (named after prefix) and a gigafab() that runs the CLI in it. */
export function cliRunner(prefix: string): { home: string; gigafab: Gigafab } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  const gigafab: Gigafab = (args, env, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: REPO,
        env: { PATH: process.env.PATH ?? '', HOME: home, GIGAFAB_CONFIG: join(home, 'none.json'), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      // A hung CLI fails the test with what it printed, instead of stalling the run.
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`gigafab ${args.join(' ')} timed out\nstdout: ${out}\nstderr: ${err}`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
    });
  return { home, gigafab };
}
