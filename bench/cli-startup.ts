/**
 * CLI start-up (issue 17): whole-process wall time of `gigafab job show ID` against a live local server, over
 * repeated runs, beside `node -e 0` (the runtime's own start) and, when GIGAFAB_BENCH_CLI_BEFORE names another
 * checkout's bin/gigafab.js, that CLI in the same run, runs interleaved so drift hits both alike.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { addLabTenant, startLocalSiteServer } from '../test/helpers/local-site.js';
import { api, BIN } from '../test/helpers/server.js';

export interface CliStartupRow {
  command: string;
  runs: number;
  wallMsMedian: number;
  wallMsMin: number;
  wallMsMax: number;
}

function wallMs(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export async function benchCliStartup(runs = 30): Promise<{ loadAverage: number[]; rows: CliStartupRow[] }> {
  const server = await startLocalSiteServer('gigafab-bench-cli-', 'gpuPassthrough: none');
  try {
    const token = await addLabTenant(api(server.url, server.operatorToken), { name: 'Bench', role: 'member' });
    const submitted = await api(server.url, token)('POST', '/v1/jobs', {
      name: 'bench',
      project: 'lab-ml',
      gpuType: 'L4',
      gpusPerNode: 1,
      command: ['true'],
    });
    if (submitted.status !== 201) throw new Error(`submission failed: ${submitted.status} ${JSON.stringify(submitted.body)}`);
    const id = String(submitted.body.id);
    const env = { ...process.env, GIGAFAB_URL: server.url, GIGAFAB_TOKEN: token, GIGAFAB_CONFIG: '/nonexistent' };
    const commands: { command: string; args: string[] }[] = [
      { command: 'node -e 0', args: ['-e', '0'] },
      { command: 'gigafab job show', args: [BIN, 'job', 'show', id] },
    ];
    const before = process.env.GIGAFAB_BENCH_CLI_BEFORE;
    if (before) commands.push({ command: 'gigafab job show (before)', args: [before, 'job', 'show', id] });
    const samples = commands.map(() => [] as number[]);
    for (const c of commands) wallMs(c.args, env); // warm the page cache
    for (let i = 0; i < runs; i++) {
      for (const [k, c] of commands.entries()) samples[k]?.push(wallMs(c.args, env));
    }
    const rows = commands.map((c, k) => {
      const xs = samples[k] ?? [];
      const r = (x: number) => Math.round(x * 10) / 10;
      return {
        command: c.command,
        runs,
        wallMsMedian: r(median(xs)),
        wallMsMin: r(Math.min(...xs)),
        wallMsMax: r(Math.max(...xs)),
      };
    });
    return { loadAverage: loadavg().map((x) => Math.round(x * 100) / 100), rows };
  } finally {
    await server.stop();
  }
}
