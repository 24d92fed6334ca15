/**
 * Which job events carry tenant data, and what an operator without the tenant's consent sees of
 * them. Most events are operational: the control plane writes their sentence from placement,
 * states and ids (queued, scheduled on nodes, preempted for job Y, node down, requeued). Others
 * carry text the job or an outside system supplied: a driver's exit message (a Kubernetes
 * image-pull error names the image, a start error may name the command), a checkpoint's label and
 * step (written by the job), a residency flag (its rule and reason can name datasets). Those keep
 * type and time for an operator, with a system sentence instead of the message and no `data`,
 * unless the operator holds an approved `read-spec` access to the job (lockbox).
 *
 * Unknown event types count as tenant data: a new kind of event is withheld until someone
 * classifies it here (fail closed).
 */

import { isOperator } from '../model/authz.js';
import { TERMINAL_STATES } from '../model/job.js';
import type { Principal } from '../model/principal.js';
import type { JobEvent } from '../model/schemas.js';
import type { Lockbox } from './lockbox/index.js';

/** Event types whose message and data the control plane composes from operational facts only. */
const OPERATIONAL_TYPES: ReadonlySet<string> = new Set([
  'running', // scheduled on N node(s) in SITE; data: placement
  'started', // the driver's start note, composed from the placement (nodes, pods, pid, GPUs)
  'preempting', // preempted for job Y; data: forJobId, reason
  'node-failure', // node X went down (the operator's own reason); data: node, policy
  'cancel-requested', // cancel requested by USER
  'holding', // processing restricted (the restriction's reason, shown to operators on /restriction too)
  'usage_reconciled', // run time corrected to the driver's report: times and seconds only (usage-reconcile.ts)
]);

const SUFFIX = "withheld from operators without the tenant's consent (lockbox: read-spec on the job)";

/**
 * tenantDataIn: null when the event is operational, else the system sentence an operator without
 * access sees instead of its message. `queued` and terminal events are operational when the
 * control plane wrote them (submission, node failure, restriction hold, cancel while queued) and
 * tenant data when they carry a driver's message (after a driver's exit, a preemption's requeue).
 */
export function tenantDataIn(e: JobEvent): string | null {
  if (OPERATIONAL_TYPES.has(e.type)) return null;
  const d = e.data;
  if (e.type === 'queued') {
    // Submission (no data), node-failure requeue (data.node), restriction hold (data.restricted;
    // events written before it say preemptedFor '').
    if (d === null || 'node' in d || 'restricted' in d || d.preemptedFor === '') return null;
    return `requeued after preemption for job ${String(d.preemptedFor)}; the execution driver's message is ${SUFFIX}`;
  }
  if (TERMINAL_STATES.has(e.type as never)) {
    // Cancelled while queued (no data) and node-failure outcomes (data.node) are system sentences.
    if (d === null || 'node' in d) return null;
    return `job ${e.type}; the execution driver's message is ${SUFFIX}`;
  }
  if (e.type === 'checkpoint') return `checkpoint reported; its step and label are ${SUFFIX}`;
  if (e.type === 'residency-flagged') {
    return `residency: the job's site no longer satisfies the rules in force; the details are ${SUFFIX}`;
  }
  return `${e.type} event; its message is ${SUFFIX}`;
}

/** withholdEvent: the event as an operator without access sees it; `redacted` names what is missing. */
export function withholdEvent(e: JobEvent, sentence: string): JobEvent & { redacted: string[] } {
  return { ...e, message: sentence, data: null, redacted: e.data ? ['message', 'data'] : ['message'] };
}

/**
 * EventView shows one request's events to its caller: unchanged for the job's tenant; for an
 * operator, tenant-data events in full only under an approved read-spec access. The access is
 * checked (and, when granted, audited as one use) at the first event that needs it, once per
 * request or stream, never for operational events alone.
 */
export class EventView {
  private allowed: Promise<boolean> | null = null;

  constructor(
    private readonly lockbox: Lockbox,
    private readonly p: Principal,
    private readonly job: { id: string; org: string },
    private readonly requestId: string,
  ) {}

  async show(e: JobEvent): Promise<JobEvent> {
    if (!isOperator(this.p)) return e;
    const sentence = tenantDataIn(e);
    if (sentence === null) return e;
    this.allowed ??= this.lockbox.guard.grants(
      { principal: this.p, requestId: this.requestId },
      this.job.org,
      `job:${this.job.id}`,
      'read-spec',
    );
    return (await this.allowed) ? e : withholdEvent(e, sentence);
  }

  async all(events: readonly JobEvent[]): Promise<JobEvent[]> {
    const out: JobEvent[] = [];
    for (const e of events) out.push(await this.show(e));
    return out;
  }
}
