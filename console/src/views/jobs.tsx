/** Jobs: newest first, filtered by state (kept in the URL), refreshed every 2 s. */
import { get, qs } from '../api/client.js';
import type { Job, JobState, Page } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { ErrorLine } from '../components/error-line.js';
import { StateBadge } from '../components/state-badge.js';
import { fmtTime } from '../lib/format.js';
import { JOB_STATES } from '../lib/job-states.js';
import { Link, navigate, useLocation } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

export function JobsView() {
  const me = useMe();
  const { query } = useLocation();
  const state = (query.get('state') ?? '') as JobState | '';
  const { data, error } = usePoll(() => get<Page<Job>>(`/v1/jobs${qs({ state, limit: 200 })}`), 2000, [state]);
  const operator = me.role === 'operator';

  return (
    <>
      <h1>Jobs</h1>
      <div class="toolbar">
        <label>
          State{' '}
          <select
            value={state}
            data-testid="state-filter"
            onChange={(e) => navigate(`/jobs${qs({ state: e.currentTarget.value })}`, true)}
          >
            <option value="">All states</option>
            {JOB_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {me.role !== 'viewer' && !operator && <Link href="/submit">Submit a job</Link>}
      </div>
      <ErrorLine message={error} />
      {data && data.items.length === 0 && <p>No jobs{state ? ` in state ${state}` : ''}.</p>}
      {data && data.items.length > 0 && (
        <table class="data" data-testid="jobs-table">
          <caption class="sr-only">Jobs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Name</th>
              {operator && <th scope="col">Organisation</th>}
              <th scope="col">Project</th>
              <th scope="col">State</th>
              <th scope="col">GPUs</th>
              <th scope="col">Submitted</th>
              <th scope="col">Waiting because</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((j) => (
              <tr key={j.id} data-job-id={j.id} data-state={j.state}>
                <th scope="row">
                  <Link href={`/jobs/${j.id}`}>{j.id}</Link>
                </th>
                <td>{j.name}</td>
                {operator && <td>{j.org}</td>}
                <td>{j.project}</td>
                <td>
                  <StateBadge state={j.state} />
                </td>
                <td class="nowrap">
                  {j.spec.nodes}×{j.spec.gpusPerNode} {j.spec.gpuType}
                </td>
                <td class="nowrap">{fmtTime(j.createdAt)}</td>
                <td class="reason">{j.state === 'queued' ? (j.pendingReason?.message ?? 'waiting for the scheduler') : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
