/**
 * Rendezvous environment for distributed training: every rank of a job learns the same master address
 * and port, the node count and its own index, so `torchrun --nnodes $WORLD_SIZE --node_rank $NODE_RANK
 * --master_addr $MASTER_ADDR --master_port $MASTER_PORT …` works unchanged on every driver.
 * WORLD_SIZE counts nodes (one launcher per node, as torchrun's --nnodes wants); RANK equals NODE_RANK
 * and LOCAL_RANK is 0 for that launcher (torchrun sets its workers' own).
 */
import type { Placement } from '../model/job.js';

/**
 * Master ports: 30000–32767, apart from the ports of sessions and services on the nodes (Slurm's
 * workloadPorts, default 20000–29999; the local driver's come from the kernel's ephemeral range,
 * 32768 and up on Linux). Rank 0 listens on the host network (local, Slurm): sharing a range with the
 * workloads let a session hold a gang's master port, so rank 0 could not listen and rank 1 talked to
 * the session instead (a CI flake of the Slurm gang test).
 */
export const MASTER_PORTS = { from: 30000, to: 32767 } as const;

/** The master port of a job: the same on every rank, spread over MASTER_PORTS by the job id. */
export function masterPort(jobId: string): number {
  let h = 0;
  for (const c of jobId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return MASTER_PORTS.from + (h % (MASTER_PORTS.to - MASTER_PORTS.from + 1));
}

/**
 * rendezvousEnv: the variables of the rank on node `index` of the placement. masterAddr: the address
 * of the placement's first node as the ranks reach it (its host name, or 127.0.0.1 on one machine).
 */
export function rendezvousEnv(jobId: string, placement: Placement, index: number, masterAddr: string): Record<string, string> {
  const count = placement.nodes.length;
  return {
    MASTER_ADDR: masterAddr,
    MASTER_PORT: String(masterPort(jobId)),
    WORLD_SIZE: String(count),
    NODE_RANK: String(index),
    RANK: String(index),
    LOCAL_RANK: '0',
    GIGAFAB_NODE_INDEX: String(index),
    GIGAFAB_NODE_COUNT: String(count),
    GIGAFAB_NODES: placement.nodes.map((n) => n.node).join(','),
  };
}
