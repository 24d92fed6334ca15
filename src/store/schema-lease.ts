/** The scheduler lease row (migration 023, scheduler-lease.ts). */
export interface SchedulerLeaseTable {
  name: string;
  /** The holding process (`<host>:<pid>:<random>`). */
  holder: string;
  /** Fencing token: grows by one with every change of holder. */
  token: number;
  /** Epoch ms by the database's clock after which another process may take the lease. */
  expires_ms: number;
}
