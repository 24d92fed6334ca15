/**
 * Read-only, operator-only views the web console needs and the core API does not offer:
 * every GPU's state and owner in one compact snapshot, utilisation history, and the queue grouped
 * by pending reason. Tenants get 403: these views span all organisations.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { enforce, operatorOnly } from '../../model/authz.js';
import type { Principal } from '../../model/principal.js';
import { fleetHistoryOf } from '../../server/fleet-history.js';
import {
  FleetGpusSchema,
  FleetHistoryQuerySchema,
  FleetHistorySchema,
  NODE_STATES,
  type QueuedJobBrief,
  type QueueSummary,
  QueueSummarySchema,
} from '../console-types.js';
import { json, newRouter, type Services } from '../context.js';
import { commonProblems } from '../problems.js';

const requireOperator = (p: Principal, what: string) => enforce(operatorOnly(p), `only platform operators can read ${what}`);

export function consoleDataRoutes({ cp, cluster }: Services) {
  const r = newRouter();
  const fleet = cp.fleet;

  // The fleet's shape never changes while the server runs: index it once.
  const sites = fleet.sites.map((s) => s.id);
  const gpuTypes = [...fleet.gpuTypes];
  const nodeTypes = fleet.nodeTypes.map((t) => t.id);
  const units = [...new Set(fleet.nodes.map((n) => n.unit))];
  const unitIndex = new Map(units.map((u, i) => [u, i]));
  const nodeColumns = {
    id: fleet.nodes.map((n) => n.id),
    site: fleet.nodes.map((n) => sites.indexOf(n.site)),
    unit: fleet.nodes.map((n) => unitIndex.get(n.unit)!),
    nodeType: fleet.nodes.map((n) => nodeTypes.indexOf(n.nodeType)),
    gpuType: fleet.nodes.map((n) => gpuTypes.indexOf(n.gpuType)),
    gpus: fleet.nodes.map((n) => n.gpus),
  };
  const gpuOffset: number[] = [];
  let totalGpus = 0;
  for (const n of fleet.nodes) {
    gpuOffset.push(totalGpus);
    totalGpus += n.gpus;
  }

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/fleet/gpus',
      operationId: 'listFleetGpus',
      tags: ['console'],
      summary: 'Every GPU of the fleet: node state and the job and organisation holding it (operator)',
      description: 'A compact column-oriented snapshot for the fleet map: one call covers all nodes and GPUs.',
      responses: { 200: json(FleetGpusSchema, 'Snapshot'), ...commonProblems },
    }),
    async (c) => {
      requireOperator(c.get('principal'), 'the GPU map');
      const orgs: string[] = [];
      const orgIndex = new Map<string, number>();
      const jobIds: string[] = [];
      const jobOrg: number[] = [];
      const gpuJob = new Array<number>(totalGpus).fill(-1);
      const gpuShareMilli = new Array<number>(totalGpus).fill(0);
      for (const id of cluster.allocatedJobs()) {
        const placement = cluster.allocationOf(id);
        if (!placement) continue;
        const org = cp.orgOfRunningJob(id);
        let o = -1;
        if (org !== null) {
          o = orgIndex.get(org) ?? -1;
          if (o < 0) {
            o = orgs.push(org) - 1;
            orgIndex.set(org, o);
          }
        }
        const j = jobIds.push(id) - 1;
        jobOrg.push(o);
        for (const a of placement.nodes) {
          const base = gpuOffset[fleet.nodeIndex.get(a.node)!]!;
          for (const g of a.gpus) {
            gpuJob[base + g] = j;
            if (a.milli !== undefined) gpuShareMilli[base + g] += a.milli;
          }
        }
      }
      const gpuMig = new Array<number>(totalGpus).fill(0);
      for (const n of fleet.nodes) for (const g of cluster.migModeGpus(n.id)) gpuMig[gpuOffset[n.index]! + g] = 1;
      const state = fleet.nodes.map((n) => NODE_STATES.indexOf(cluster.nodeState(n.id)));
      return c.json(
        {
          at: new Date().toISOString(),
          sites,
          gpuTypes,
          nodeTypes,
          units,
          orgs,
          nodeStates: [...NODE_STATES],
          nodes: { ...nodeColumns, state },
          jobs: { id: jobIds, org: jobOrg },
          gpuJob,
          gpuShareMilli,
          gpuMig,
        },
        200,
      );
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/fleet/history',
      operationId: 'getFleetHistory',
      tags: ['console'],
      summary: 'Utilisation and queue length over time, sampled every 10 s and kept in memory (operator)',
      request: { query: FleetHistoryQuerySchema },
      responses: { 200: json(FleetHistorySchema, 'Samples, oldest first'), ...commonProblems },
    }),
    async (c) => {
      requireOperator(c.get('principal'), 'utilisation history');
      const h = fleetHistoryOf(cp);
      return c.json(
        {
          intervalSeconds: h.intervalMs / 1000,
          series: [...h.series],
          samples: h.samples(c.req.valid('query').since),
          current: h.read(),
        },
        200,
      );
    },
  );

  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/queue/summary',
      operationId: 'getQueueSummary',
      tags: ['console'],
      summary: 'Queued jobs grouped by pending reason code, largest group first (operator)',
      request: {
        query: z.object({
          limit: z.coerce.number().int().min(0).max(1000).default(20).openapi({ description: 'Jobs listed per group' }),
        }),
      },
      responses: { 200: json(QueueSummarySchema, 'Summary'), ...commonProblems },
    }),
    async (c) => {
      requireOperator(c.get('principal'), 'the queue summary');
      const { limit } = c.req.valid('query');
      const groups = new Map<string, QueueSummary['groups'][number]>();
      const pending = cp.pendingJobs();
      for (const j of pending) {
        const code = j.reason?.code ?? 'not_yet_scheduled';
        let g = groups.get(code);
        if (!g) {
          g = { code, count: 0, gpus: 0, jobs: [] };
          groups.set(code, g);
        }
        g.count++;
        g.gpus = Math.round((g.gpus + j.gpus) * 1000) / 1000;
        if (g.jobs.length < limit) {
          const brief: QueuedJobBrief = {
            id: j.id,
            org: j.org,
            project: j.project,
            gpuType: j.gpuType,
            gpus: j.gpus,
            message: j.reason?.message ?? 'waiting for the next scheduling cycle',
          };
          g.jobs.push(brief);
        }
      }
      const sorted = [...groups.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
      return c.json({ total: pending.length, groups: sorted }, 200);
    },
  );

  return r;
}
