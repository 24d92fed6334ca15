/**
 * gigafab session list | open | ssh | tunnel | stop — interactive sessions (jobs of kind `session`), reached
 * through the control plane's workload proxy. Start one with `gigafab job submit -f session.yaml`.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { CliError, type Ctx, ExitCode, examples, makeCtx, type Runtime } from '../context.js';
import { formatDuration, renderTable } from '../output.js';
import { openTunnel, TunnelRefused } from '../tunnel.js';

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
  stateDataset?: string | null;
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

/** sessionOrigin: the session's host at the workload proxy (what GET /v1/sessions says), or a clear error. */
async function sessionOrigin(ctx: Ctx, id: string): Promise<string> {
  const { data } = await ctx.client.request<{ items: SessionItem[] }>('GET', '/v1/sessions');
  const s = data.items.find((i) => i.jobId === id);
  if (!s) throw new CliError(`no running or queued session ${id} that you can see (gigafab session list)`);
  if (!s.url) throw new CliError('this server runs no workload proxy (gigafab server --proxy-port)');
  return s.url;
}

/**
 * The ssh options that make `ssh` go through the tunnel to session `id`. Its host key is made for the
 * session, so it is trusted on first use (the tunnel is authenticated, TLS in production) and kept in
 * gigafab's own known-hosts file beside its config, not in ~/.ssh/known_hosts.
 */
export function sshArgs(
  id: string,
  cli: { node: string; script: string; knownHosts: string },
  o: { user?: string; identity?: string },
): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '-o',
    `ProxyCommand=${q(cli.node)} ${q(cli.script)} session tunnel ${id}`,
    '-o',
    `HostKeyAlias=gigafab-session-${id}`,
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    `UserKnownHostsFile=${cli.knownHosts}`,
    ...(o.identity ? ['-i', o.identity] : []),
    ...(o.user ? ['-l', o.user] : []),
    `session-${id}`,
  ];
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
        'gigafab session ssh 812 -- nvidia-smi',
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
          ['ID', 'PROJECT', 'NAME', 'PRESET', 'STATE', 'TIME LEFT', 'IDLE', 'IDLE LIMIT', 'KEPT IN', 'URL'],
          data.items.map((s) => [
            s.jobId,
            s.project,
            s.name ?? '-',
            s.preset,
            s.state === 'running' && !s.ready ? 'starting' : s.state,
            secs(s.timeLeftSeconds),
            secs(s.idleSeconds),
            s.idleTimeoutMinutes === null ? '-' : `${s.idleTimeoutMinutes}m`,
            s.stateDataset ?? 'scratch',
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
    .command('tunnel')
    .description(
      "connect standard input and output to an ssh session's port through the workload proxy (ssh's ProxyCommand); audited at every open",
    )
    .argument('<id>', 'the session’s job id')
    .option('--proxy <origin>', "the session's origin at the proxy (default: the URL the server lists for it)")
    .addHelpText(
      'after',
      examples(
        "ssh -o ProxyCommand='gigafab session tunnel 812' -o HostKeyAlias=gigafab-session-812 root@session-812",
        'gigafab session tunnel 812 --proxy https://812.gpu.example.eu',
      ),
    )
    .action(async (id: string, o: { proxy?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      if (!ctx.config.token) throw new CliError('no API token: gigafab login, or set GIGAFAB_TOKEN');
      const origin = o.proxy ?? (await sessionOrigin(ctx, id));
      try {
        await openTunnel({ origin, token: ctx.config.token, input: process.stdin, output: process.stdout });
        process.stdin.destroy();
      } catch (err) {
        if (err instanceof TunnelRefused) {
          ctx.note(`error: ${err.message} (${err.code})`);
          throw new ExitCode(1);
        }
        throw err;
      }
    });

  session
    .command('ssh')
    .description(
      'log in to an ssh session with your ssh client, through the tunnel (your key must be in your profile: gigafab ssh-key add)',
    )
    .argument('<id>', 'the session’s job id')
    .argument('[command...]', 'a command to run instead of a shell (after --)')
    .option('-l, --login <user>', 'the account on the node (the one its jobs run as; the session log names it)')
    .option('-i, --identity <file>', 'the private key to use (default: ssh’s own choice, e.g. ~/.ssh/id_ed25519)')
    .option('--print', 'print the ssh command line instead of running it')
    .addHelpText(
      'after',
      examples('gigafab session ssh 812', 'gigafab session ssh 812 -l gpu -- nvidia-smi', 'gigafab session ssh 812 --print'),
    )
    .action(async (id: string, command: string[], o: { login?: string; identity?: string; print?: boolean }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const knownHosts = join(dirname(ctx.config.configPath), 'known_hosts');
      const cli = { node: process.execPath, script: process.argv[1] ?? 'gigafab', knownHosts };
      const args = [...sshArgs(id, cli, { user: o.login, identity: o.identity }), ...command];
      if (o.print)
        return ctx.out(
          ['ssh', ...args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `"${a.replace(/(["\\$`])/g, '\\$1')}"`))].join(' '),
        );
      // The tunnel reads the same server and token as this command (flags become environment).
      const env = {
        ...process.env,
        GIGAFAB_URL: ctx.config.url,
        ...(ctx.config.token ? { GIGAFAB_TOKEN: ctx.config.token } : {}),
      };
      const code = await new Promise<number>((resolve, reject) => {
        const p = spawn('ssh', args, { stdio: 'inherit', env });
        p.once('error', (err) => reject(new CliError(`cannot run ssh: ${err.message}`)));
        p.once('exit', (c) => resolve(c ?? 255));
      });
      if (code !== 0) throw new ExitCode(code);
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
