/** Typed Hono environment shared by all routes. */
import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { RequestContext } from '../model/principal.js';
import type { AuditLog } from '../server/audit/index.js';
import type { ControlPlane } from '../server/control-plane.js';
import type { ClusterView } from '../server/cycle/scheduling-state.js';
import type { Limits } from '../server/limits.js';
import type { Lockbox } from '../server/lockbox/index.js';
import type { Principal } from '../server/principal.js';
import type { SchedulingOps } from '../server/scheduling-ops.js';
import type { InferenceServices } from '../server/services/index.js';
import type { Tenancy } from '../server/tenancy/index.js';
import type { DatasetManifests } from '../sovereignty/dataset-manifests.js';
import type { ResidencyService } from '../sovereignty/service.js';
import { zodProblem } from './problems.js';
import type { ProxyLinks } from './proxy/links.js';
import type { StreamCaps } from './stream-caps.js';

export interface ApiEnv {
  /** tokenKey: a digest of the caller's bearer token (rate limits and stream caps count per token). */
  Variables: { principal: Principal; requestId: string; tokenKey: string };
}

export interface Services {
  cp: ControlPlane;
  /** The live fleet state, read-only (nodes, allocations, totals). */
  cluster: ClusterView;
  /** Advance reservations and maintenance windows. */
  ops: SchedulingOps;
  tenancy: Tenancy;
  audit: AuditLog;
  /** Operator access to tenant data only with the tenant's consent (server/lockbox). */
  lockbox: Lockbox;
  residency: ResidencyService;
  /** Encrypted dataset manifests (dataset-manifests.ts); absent: datasets have none. */
  datasetManifests?: DatasetManifests;
  /** Resource limits (limits.ts); absent: the defaults. */
  limits?: Limits;
  /** Inference services (server/services); absent: their routes are not mounted. */
  services?: InferenceServices;
  /** Concurrent live-stream caps (stream-caps.ts); set by createApp. */
  streams?: StreamCaps;
  /** The workload proxy's links (proxy/links.ts); absent: no proxy runs (sessions cannot be opened). */
  proxy?: ProxyLinks;
}

/** requestContext: the caller and the request id of this request, as the services take them. */
export const requestContext = (c: Context<ApiEnv>): RequestContext => ({
  principal: c.get('principal'),
  requestId: c.get('requestId'),
});

/** newRouter creates a sub-app whose validation failures become RFC 9457 problems. */
export function newRouter() {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result, _c) => {
      if (!result.success) {
        const where = result.target === 'json' ? 'request body' : result.target === 'query' ? 'query' : result.target;
        throw zodProblem(result.error, where);
      }
    },
  });
}

/** json: an OpenAPI response entry for a JSON body described by `schema`. */
export const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
