/**
 * The cycle's side of the sovereignty ports (ports.ts), built from the scheduling state before the
 * control plane exists: the composition root creates the sovereignty services with these, then
 * the control plane with the services' hooks. No setter closes the loop afterwards.
 */
import type { ResidencyCycle, RestrictionCycle } from '../ports.js';
import type { CycleContext } from './context.js';
import { holdRunning } from './holds.js';

type Parts = Pick<CycleContext, 'state' | 'store' | 'driver' | 'bus' | 'grace'>;

export function restrictionCycle(parts: Parts): RestrictionCycle {
  return {
    holdRunning: (org, actor, reason, requestId) => holdRunning(parts, org, actor, reason, requestId),
    wake: () => parts.state.poke(),
  };
}

export function residencyCycle(parts: Pick<CycleContext, 'state' | 'bus'>): ResidencyCycle {
  return {
    reconstrainQueued: () => parts.state.reconstrainQueued(),
    runningJobsForResidency: () => parts.state.runningJobsForResidency(),
    announce: (org, event) => parts.bus.publish({ org, event }),
  };
}
