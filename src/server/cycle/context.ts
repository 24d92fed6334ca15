/** CycleContext: what every part of the cycle (runner, observations, holds, node states) works with. */
import type { ExecutionDriver } from '../../drivers/driver.js';
import type { BudgetInput } from '../../scheduler/index.js';
import type { Store } from '../../store/open-store.js';
import type { BudgetQueue } from '../budget-figures.js';
import type { EventBus } from '../event-bus.js';
import type { Metrics } from '../metrics.js';
import type { Policy } from '../policy.js';
import type { ControlPlaneHooks, ResidencyGate } from '../ports.js';
import type { SchedulingState } from './scheduling-state.js';

export interface CycleContext {
  readonly state: SchedulingState;
  readonly store: Store;
  readonly driver: ExecutionDriver;
  readonly bus: EventBus;
  readonly metrics: Metrics | null;
  readonly policy: Policy;
  /** Grace period (seconds) a stopped job gets before it is killed. */
  readonly grace: number;
  readonly residency: ResidencyGate | null;
  readonly hooks: ControlPlaneHooks;
  /** Monthly budgets: the scheduler's budget gate input (budget-figures.ts); absent: no gate. */
  readonly budgets?: CycleBudgets;
}

/** CycleBudgets: what the cycle asks of the budgets (see BudgetFigures.prepareCycle). */
export interface CycleBudgets {
  due(now: number): boolean;
  prepareCycle(now: number): Promise<((queue: BudgetQueue) => BudgetInput) | undefined>;
}

/** The actor audit records name for what a driver reported. */
export const driverActor = (ctx: CycleContext) => `system:driver:${ctx.driver.name}`;
