/**
 * Demo load: a realistic, seeded stream of tenant jobs so a demo fleet visibly lives.
 * It creates demo tenants (once) and submits through the same ControlPlane path as the API.
 */

import type { Fleet } from '../model/fleet.js';
import { mulberry32 as prng } from '../model/prng.js';
import type { JobSpec } from '../model/schemas.js';
import type { ControlPlane } from './control-plane.js';
import type { Principal } from './principal.js';
import type { Tenancy } from './tenancy/index.js';

interface DemoTenant {
  org: string;
  name: string;
  kind: 'enterprise' | 'start-up' | 'research' | 'public-sector';
  project: string;
  /** Share of the fleet's GPUs of each type given as quota. */
  share: number;
}

const TENANTS: DemoTenant[] = [
  { org: 'bund-ki', name: 'Bundes-KI-Pool', kind: 'public-sector', project: 'bund-pool', share: 0.25 },
  { org: 'autowerk', name: 'Autowerk AG', kind: 'enterprise', project: 'digital-twin', share: 0.25 },
  { org: 'robotics-gmbh', name: 'Robotics GmbH', kind: 'start-up', project: 'robot-policies', share: 0.2 },
  { org: 'klinikum', name: 'Klinikverbund Süd', kind: 'enterprise', project: 'radiology-ai', share: 0.1 },
  { org: 'tu-muenchen', name: 'Technische Universität', kind: 'research', project: 'nlp-lab', share: 0.2 },
];

export async function startDemoLoad(cp: ControlPlane, tenancy: Tenancy, fleet: Fleet): Promise<() => void> {
  const operator: Principal = { userId: 'operator', role: 'operator', org: null };
  const asOperator = { principal: operator, requestId: 'demo-load' };
  const members: { p: Principal; t: DemoTenant }[] = [];
  const existing = new Set((await tenancy.orgs.list(operator)).map((o) => o.id));
  for (const t of TENANTS) {
    if (!existing.has(t.org)) {
      await tenancy.orgs.create(asOperator, { id: t.org, name: t.name, kind: t.kind });
      await tenancy.projects.create(asOperator, t.org, { id: t.project, name: t.project });
      for (const gpuType of fleet.gpuTypes) {
        const total = fleet.nodes.filter((n) => n.gpuType === gpuType).reduce((a, n) => a + n.gpus, 0);
        await tenancy.projects.setQuota(asOperator, t.project, gpuType, Math.floor(total * t.share));
      }
      // Demo tenants are synthetic: their member is made by an in-process stand-in for the tenant's
      // admin (operators cannot create tenant users).
      const demoAdmin: Principal = { userId: 'system:demo-load', role: 'admin', org: t.org };
      await tenancy.users.create({ principal: demoAdmin, requestId: 'demo-load' }, t.org, {
        name: `${t.name} demo`,
        role: 'member',
      });
    }
    const users = await tenancy.users.list(operator, t.org);
    const member = users.find((u) => u.role === 'member');
    if (member) members.push({ p: { userId: member.id, role: 'member', org: t.org }, t });
  }

  const rand = prng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const shapes = [
    { nodes: 1, gpusPerNode: 1, w: 30 },
    { nodes: 1, gpusPerNode: 2, w: 15 },
    { nodes: 1, gpusPerNode: 4, w: 15 },
    { nodes: 1, gpusPerNode: 8, w: 20 },
    { nodes: 2, gpusPerNode: 8, w: 8 },
    { nodes: 4, gpusPerNode: 8, w: 7 },
    { nodes: 16, gpusPerNode: 8, w: 4 },
    { nodes: 64, gpusPerNode: 8, w: 1 },
  ];
  const totalW = shapes.reduce((a, s) => a + s.w, 0);
  const shape = () => {
    let x = rand() * totalW;
    for (const s of shapes) {
      x -= s.w;
      if (x < 0) return s;
    }
    return shapes[0]!;
  };
  let n = 0;
  const timer = setInterval(() => {
    if (cp.queueLength() > 300 || members.length === 0) return;
    for (let i = 0; i < 8; i++) {
      const { p, t } = pick(members);
      const s = shape();
      const gpuType = s.nodes > 1 || rand() < 0.7 ? 'B200' : pick(fleet.gpuTypes);
      const spec: JobSpec = {
        name: `${t.project}-${++n}`,
        project: t.project,
        gpuType: fleet.gpuTypes.includes(gpuType) ? gpuType : 'any',
        gpusPerNode: s.gpusPerNode,
        nodes: s.nodes,
        maxRuntimeSeconds: 8 * 3600,
        priorityClass: t.kind === 'public-sector' ? 'high' : 'normal',
        labels: { demo: 'true' },
        simulation: { durationSeconds: Math.round(600 + rand() * 5 * 3600), exitCode: rand() < 0.05 ? 1 : 0 },
      };
      cp.submitJob(p, spec, undefined, 'demo-load').catch(() => {});
    }
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
