/** The replica's scheduler role on /metrics: gigafab_scheduler_leader (1/0) and the fencing token it holds. */
import { Gauge, type Registry } from 'prom-client';
import type { LeaseView } from '../../store/scheduler-lease.js';

export function registerRoleMetrics(registry: Registry, view: () => LeaseView): void {
  new Gauge({
    name: 'gigafab_scheduler_leader',
    help: '1 when this replica holds the scheduler lease (schedules and owns the drivers), 0 when it follows',
    registers: [registry],
    collect() {
      this.set(view().role === 'leader' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'gigafab_scheduler_fencing_token',
    help: 'The fencing token of the scheduler lease this replica holds or last held (0: never held)',
    registers: [registry],
    collect() {
      this.set(view().token);
    },
  });
}
