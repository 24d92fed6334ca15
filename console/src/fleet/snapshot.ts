/**
 * Helpers over the /v1/fleet/gpus snapshot (column arrays): GPU offsets per node and the
 * details of one node, computed on demand so a 10,240-GPU update costs no object churn.
 */
import type { FleetGpus } from '../api/types.js';

/** gpuOffsets[i] is the index of node i's first GPU in the flat per-GPU arrays. */
export function gpuOffsets(s: FleetGpus): Int32Array {
  const n = s.nodes.id.length;
  const out = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) out[i + 1] = out[i] + s.nodes.gpus[i];
  return out;
}

export interface NodeJob {
  id: string;
  org: string | null;
  gpus: number[];
}

export interface NodeDetails {
  index: number;
  id: string;
  site: string;
  unit: string;
  nodeType: string;
  gpuType: string;
  state: string;
  gpus: number;
  allocated: number;
  jobs: NodeJob[];
}

export function nodeDetails(s: FleetGpus, offsets: Int32Array, i: number): NodeDetails {
  const jobs = new Map<number, NodeJob>();
  let allocated = 0;
  for (let g = 0; g < s.nodes.gpus[i]; g++) {
    const j = s.gpuJob[offsets[i] + g];
    if (j < 0) continue;
    allocated++;
    let job = jobs.get(j);
    if (!job) {
      const o = s.jobs.org[j];
      job = { id: s.jobs.id[j], org: o >= 0 ? s.orgs[o] : null, gpus: [] };
      jobs.set(j, job);
    }
    job.gpus.push(g);
  }
  return {
    index: i,
    id: s.nodes.id[i],
    site: s.sites[s.nodes.site[i]],
    unit: s.units[s.nodes.unit[i]],
    nodeType: s.nodeTypes[s.nodes.nodeType[i]],
    gpuType: s.gpuTypes[s.nodes.gpuType[i]],
    state: s.nodeStates[s.nodes.state[i]],
    gpus: s.nodes.gpus[i],
    allocated,
    jobs: [...jobs.values()],
  };
}
