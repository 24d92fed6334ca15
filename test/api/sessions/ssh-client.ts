/**
 * sshThroughTunnel: the real OpenSSH client (or `sftp` with batch commands on stdin) reaching a
 * session only through the workload proxy's tunnel, with `gigafab session tunnel ID` as its
 * ProxyCommand — as a user of `token` runs it. Shared by the ssh session tests.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BIN, REPO } from '../../helpers/server.js';

export interface SshRun {
  /** The session's job id. */
  id: string;
  /** The private key file. */
  key: string;
  /** The account to log in as. */
  login: string;
  /** The API token the tunnel authenticates with, and the server it talks to. */
  token: string;
  url: string;
  /** The client's HOME (its known_hosts lives there). */
  home: string;
  /** The remote command (ssh) or the batch commands (sftp). */
  remote: string;
  /** The tunnel's `--proxy` origin, when not the server's own. */
  proxy?: string;
  program?: 'ssh' | 'sftp';
}

export function sshThroughTunnel(r: SshRun): Promise<{ code: number | null; out: string; err: string }> {
  const program = r.program ?? 'ssh';
  const target = `${r.login}@session-${r.id}`;
  const tunnel = `${process.execPath} ${BIN} session tunnel ${r.id}${r.proxy ? ` --proxy ${r.proxy}` : ''}`;
  const args = [
    ...(program === 'sftp' ? ['-b', '-'] : []),
    '-F',
    '/dev/null',
    '-i',
    r.key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `ProxyCommand=${tunnel}`,
    '-o',
    `HostKeyAlias=gigafab-session-${r.id}`,
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    `UserKnownHostsFile=${join(r.home, 'known_hosts')}`,
    ...(program === 'sftp' ? [target] : [target, r.remote]),
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(program, args, {
      cwd: REPO,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: r.home,
        GIGAFAB_CONFIG: join(r.home, 'none.json'),
        GIGAFAB_URL: r.url,
        GIGAFAB_TOKEN: r.token,
      },
      stdio: [program === 'sftp' ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    p.stdin?.end(r.remote);
    let out = '';
    let err = '';
    p.stdout?.on('data', (d) => {
      out += d;
    });
    p.stderr?.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
