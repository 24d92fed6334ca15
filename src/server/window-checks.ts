/**
 * Checks of a new capacity window (reservation or maintenance): its span, the sites the owning
 * organisation's residency policy allows, the shape it can be held in, and overlap with others.
 */
import type { Selectable } from 'kysely';
import { conflict, invalid } from '../model/errors.js';
import type { Fleet } from '../model/fleet.js';
import type { ReservationCreate } from '../model/schemas-scheduling.js';
import { type ClusterModel, constraintsFor, placeJob, type SchedJob } from '../scheduler/index.js';
import type { ReservationsTable } from '../store/schema-scheduling.js';
import { MAX_WINDOW_DAYS, MAX_WINDOW_LEAD_DAYS } from './limits.js';
import type { ResidencyGate } from './ports.js';

type ReservationRow = Selectable<ReservationsTable>;

const DAY_MS = 86_400_000;

export interface WindowSpan {
  start: number;
  end: number;
}

/** checkSpan validates start < end and end in the future; returns epoch ms. */
export function checkSpan(start: string, end: string, now: number): WindowSpan {
  const s = Date.parse(start);
  const e = Date.parse(end);
  if (!(s < e))
    throw invalid('invalid_window', `end (${end}) must be after start (${start})`, [{ path: 'end', message: 'before start' }]);
  if (e <= now)
    throw invalid('invalid_window', `the window ends in the past (${end})`, [{ path: 'end', message: 'in the past' }]);
  if (e - s > MAX_WINDOW_DAYS * DAY_MS)
    throw invalid('invalid_window', `a window may last at most ${MAX_WINDOW_DAYS} days (${start} to ${end} is longer)`, [
      { path: 'end', message: `more than ${MAX_WINDOW_DAYS} days after start` },
    ]);
  if (s - now > MAX_WINDOW_LEAD_DAYS * DAY_MS)
    throw invalid('invalid_window', `a window may start at most ${MAX_WINDOW_LEAD_DAYS} days ahead (${start} is later)`, [
      { path: 'start', message: `more than ${MAX_WINDOW_LEAD_DAYS} days ahead` },
    ]);
  return { start: s, end: e };
}

/**
 * residencySites: the sites the owning organisation's residency policy allows when the window
 * starts (null: no policy). A site asked for outside them is refused, naming the rule: the held
 * capacity would be the organisation's, where its own jobs may not run.
 */
export function residencySites(
  residency: Pick<ResidencyGate, 'orgPlacement'> | null,
  body: ReservationCreate,
  at: number,
): readonly string[] | null {
  const ev = residency?.orgPlacement(body.org, at);
  if (!ev) return null;
  const policy = ev.policyVersions.org ? `${ev.policyVersions.org.name} v${ev.policyVersions.org.version}` : '';
  const allows = ev.allowedSites.length ? `it allows ${ev.allowedSites.join(', ')}` : 'it allows no site at that time';
  const out = ev.excluded.find((e) => e.site === body.site);
  if (out) {
    throw invalid(
      'residency_forbidden',
      `organisation ${body.org}'s residency policy ${policy} excludes site ${body.site}: ${out.reason} [${out.rule}]; ${allows}`,
      [{ path: 'site', message: out.rule }],
    );
  }
  if (ev.allowedSites.length === 0) {
    const why = ev.excluded.map((e) => `${e.reason} [${e.rule}]`).join('; ');
    throw invalid('residency_forbidden', `organisation ${body.org}'s residency policy ${policy} allows no site then: ${why}`, [
      { path: 'org', message: ev.excluded[0]?.rule ?? 'residency' },
    ]);
  }
  return ev.allowedSites;
}

/** reservationShape: whole nodes above one node (the window is a gang), else a partial node. */
export function reservationShape(
  fleet: Fleet,
  emptyModel: ClusterModel,
  body: ReservationCreate,
  allowed: readonly string[] | null,
): { gpusPerNode: number; nodes: number } {
  if (!fleet.gpuTypes.includes(body.gpuType)) {
    throw invalid('unknown_gpu_type', `the fleet has no ${body.gpuType} (it has ${fleet.gpuTypes.join(', ')})`, [
      { path: 'gpuType', message: 'unknown' },
    ]);
  }
  if (body.site && !fleet.sites.some((s) => s.id === body.site)) {
    throw invalid('unknown_site', `unknown site ${body.site}`, [{ path: 'site', message: 'unknown' }]);
  }
  const inScope = (site: string) => (!body.site || site === body.site) && (!allowed || allowed.includes(site));
  let size = 0;
  for (const n of fleet.nodes) {
    if (n.gpuType === body.gpuType && inScope(n.site)) size = Math.max(size, n.gpus);
  }
  if (size === 0) {
    throw invalid(
      allowed && !body.site ? 'residency_forbidden' : 'reservation_unplaceable',
      body.site
        ? `site ${body.site} has no ${body.gpuType} nodes`
        : `no site organisation ${body.org}'s residency policy allows (${allowed?.join(', ')}) has ${body.gpuType} nodes`,
    );
  }
  if (body.gpus > size && body.gpus % size !== 0) {
    throw invalid(
      'reservation_shape',
      `a reservation above one node must be whole nodes: ${body.gpus} is not a multiple of ${size} GPUs per ${body.gpuType} node`,
      [{ path: 'gpus', message: `multiple of ${size}` }],
    );
  }
  const shape = body.gpus > size ? { gpusPerNode: size, nodes: body.gpus / size } : { gpusPerNode: body.gpus, nodes: 1 };
  const probe: SchedJob = {
    id: 'reservation',
    seq: 0,
    org: body.org,
    project: '',
    gpuType: body.gpuType,
    ...shape,
    priority: 0,
    submittedAt: 0,
    maxRuntimeSeconds: 0,
    ...(body.site ? { requiredSites: [body.site] } : {}),
    ...(allowed ? { residency: { allowedSites: allowed, reason: '', rule: null } } : {}),
  };
  const req = { gpuType: body.gpuType, ...shape, constraints: constraintsFor(emptyModel, probe) };
  if (!placeJob(emptyModel, req).ok) {
    throw invalid(
      'reservation_unplaceable',
      `${shape.nodes} x ${shape.gpusPerNode} ${body.gpuType} never fit in one site${body.site ? ` (${body.site})` : allowed ? ` the organisation's residency policy allows (${allowed.join(', ')})` : ''}: a reservation lives in one site`,
    );
  }
  return shape;
}

/** checkOverlap refuses a reservation that, with those overlapping it, exceeds the GPUs of its type (and site). */
export function checkOverlap(
  fleet: Fleet,
  reservations: Iterable<ReservationRow>,
  body: ReservationCreate,
  span: WindowSpan,
  gpus: number,
  allowed: readonly string[] | null,
): void {
  let total = 0;
  for (const n of fleet.nodes) {
    if (n.gpuType === body.gpuType && (!body.site || n.site === body.site) && (!allowed || allowed.includes(n.site)))
      total += n.gpus;
  }
  let taken = 0;
  for (const r of reservations) {
    if (r.gpu_type !== body.gpuType || (body.site && r.site && r.site !== body.site)) continue;
    if (Date.parse(r.start_at) < span.end && Date.parse(r.end_at) > span.start) taken += r.gpus;
  }
  if (taken + gpus > total) {
    throw conflict(
      'reservation_capacity',
      `only ${total - taken} of ${total} ${body.gpuType} GPUs${body.site ? ` in ${body.site}` : allowed ? ` in the sites the organisation's residency policy allows (${allowed.join(', ')})` : ''} are not reserved at that time; asked for ${gpus}`,
    );
  }
}
