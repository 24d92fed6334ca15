/**
 * Lockbox: operators cannot read a tenant's data (job specs and logs, secrets, datasets, reports)
 * unless an admin of the tenant approved a scoped, time-limited access request, or the operator used
 * break-glass, which the tenant is told about afterwards. `lockbox.guard.check` is the one check
 * every tenant-data read goes through; `lockbox.views` withholds instead of refusing;
 * `lockbox.requests` files, decides and lists access requests.
 */
import type { Store } from '../../store/open-store.js';
import { AccessRequests } from './access-requests.js';
import { LockboxGuard } from './guard.js';
import { JobViews } from './redaction.js';

export { LockboxGuard } from './guard.js';
export { REDACTED_JOB_FIELDS, redactJob } from './redaction.js';
export { stateOf } from './rows.js';
export { lockboxRequired, parseObjectRef, scopeCovers } from './scope.js';

export class Lockbox {
  readonly guard: LockboxGuard;
  readonly views: JobViews;
  readonly requests: AccessRequests;

  constructor(store: Store, now: () => number = () => Date.now()) {
    this.guard = new LockboxGuard(store, now);
    this.views = new JobViews(this.guard);
    this.requests = new AccessRequests(store, now);
  }
}
