/**
 * gigafab session list | open | stop — interactive sessions (jobs of kind `session`), reached
 * through the control plane's workload proxy. Start one with `gigafab job submit -f session.yaml`.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { examples, makeCtx, type Runtime } from '../context.js';
import { formatDuration, renderTable } from '../output.js';

interface SessionItem {
  jobId: string;
  project: string;
  name: string | null;
  state: string;
  preset: string;
  ready: boolean;
  url: string | null;
  timeLeftSeconds: number | null;
  idleSeconds: number | null;
  idleTimeoutMinutes: number | null;
}

/** openInBrowser: the desktop's opener (xdg-open, open on macOS), detached; false when there is none. */
function openInBrowser(url: string): Promise<boolean> {
  const cmd = process.platform === 'darwin' ? 'open' : 'xdg-open';
  return new Promise((resolve) => {
    const p = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    p.once('error', () => resolve(false));
    p.once('spawn', () => {
      p.unref();
      resolve(true);
    });
  });
}

export function registerSession(program: Command, rt: Runtime): void {
  const session = program
    .command('session')
    .description('interactive sessions (Jupyter, any HTTP port): list, open in a browser, stop')
    .addHelpText(
      'after',
      examples(
        'gigafab job submit -f notebook.yaml',
        'gigafab session list',
        'gigafab session open 812 --browser',
        'gigafab session stop 812',
      ),
    );

  session
    .command('list')
    .description('running and queued sessions, with time left and idle time')
    .addHelpText('after', examples('gigafab session list', 'gigafab session list -o json'))
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: SessionItem[] }>('GET', '/v1/sessions');
      if (ctx.json) return ctx.printJson(data);
      if (!data.items.length) return ctx.out('no sessions');
      const secs = (s: number | null) => (s === null ? '-' : formatDuration(s));
      ctx.out(
        renderTable(
          ['ID', 'PROJECT', 'NAME', 'PRESET', 'STATE', 'TIME LEFT', 'IDLE', 'IDLE LIMIT', 'URL'],
          data.items.map((s) => [
            s.jobId,
            s.project,
            s.name ?? '-',
            s.preset,
            s.state === 'running' && !s.ready ? 'starting' : s.state,
            secs(s.timeLeftSeconds),
            secs(s.idleSeconds),
            s.idleTimeoutMinutes === null ? '-' : `${s.idleTimeoutMinutes}m`,
            s.url ?? '-',
          ]),
        ),
      );
    });

  session
    .command('open')
    .description('print a one-time link (valid for a minute) that opens the session in a browser; --browser opens it')
    .argument('<id>', 'the session’s job id')
    .option('--browser', 'open the link in the default browser')
    .addHelpText('after', examples('gigafab session open 812', 'gigafab session open 812 --browser'))
    .action(async (id: string, o: { browser?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ url: string; expiresAt: string; state: string }>(
        'POST',
        `/v1/sessions/${encodeURIComponent(id)}/open`,
      );
      if (ctx.json) return ctx.printJson(data);
      ctx.out(data.url);
      if (data.state !== 'running') ctx.out(`(session ${id} is ${data.state}: the page answers once it runs)`);
      if (o.browser && !(await openInBrowser(data.url))) ctx.out('no browser opener found (xdg-open): open the link yourself');
    });

  session
    .command('stop')
    .description('stop a session (as `gigafab job cancel`)')
    .argument('<id>', 'the session’s job id')
    .addHelpText('after', examples('gigafab session stop 812'))
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const j = await ctx.client.cancelJob(id);
      if (ctx.json) return ctx.printJson(j);
      ctx.out(`session ${j.id}: stop requested (state: ${j.state})`);
    });
}
