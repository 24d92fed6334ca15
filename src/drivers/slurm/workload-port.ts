/**
 * Ports of sessions and services on a Slurm site. The control plane reaches the workload at its
 * node's address (Slurm's NodeAddr, `scontrol show node`) and a port the driver picks before sbatch
 * from the site's `workloadPorts` range (default 20000–29999): derived from the job id and attempt,
 * skipping the ports of the driver's other running workloads on the node, and — where the node's
 * address is this machine's loopback (the localhost test cluster) — ports someone listens on now.
 * The job gets it as GIGAFAB_PORT (= PORT) and the address to bind as GIGAFAB_BIND (the node's
 * address: the control plane connects there; nothing else should, so put the nodes' workload ports
 * behind the cluster's firewall, open to the control plane only).
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';

export const DEFAULT_WORKLOAD_PORTS = { from: 20000, to: 29999 } as const;

/** parseNodeAddr: NodeAddr of `scontrol show node NAME --oneliner` (null when absent). */
export function parseNodeAddr(text: string): string | null {
  return /(?:^|\s)NodeAddr=(\S+)/.exec(text)?.[1] ?? null;
}

const isLoopback = (host: string) => host === 'localhost' || host.startsWith('127.') || host === '::1';

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** pickWorkloadPort: the first usable candidate after the job's own starting point in the range. */
export async function pickWorkloadPort(
  jobId: string,
  attempt: number,
  host: string,
  taken: ReadonlySet<number>,
  range: { from: number; to: number } = DEFAULT_WORKLOAD_PORTS,
): Promise<number> {
  const size = range.to - range.from + 1;
  const start = createHash('sha256').update(`${jobId}/${attempt}`).digest().readUInt32BE(0) % size;
  for (let i = 0; i < Math.min(size, 2000); i++) {
    const port = range.from + ((start + i) % size);
    if (taken.has(port)) continue;
    if (isLoopback(host) && !(await canBind(host, port))) continue;
    return port;
  }
  throw new Error(`no free workload port in ${range.from}-${range.to} on ${host}`);
}
