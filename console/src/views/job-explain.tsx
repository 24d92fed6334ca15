/**
 * The scheduler's explanation of a queued job (/v1/jobs/{id}/explain): place in the queue, expected
 * start from the backfill plan, the jobs it waits behind, what would make it start now, and its
 * multifactor priority, as of the scheduling cycle that computed it. Re-read every 5 s: the scheduler
 * refreshes it every few seconds.
 */
import { get } from '../api/client.js';
import type { JobExplanation, SchedulingCycleView } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtAgo, fmtTime, fmtUntil } from '../lib/format.js';
import { Link } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

const FACTOR_LABELS: Record<string, string> = {
  fairShare: 'Fair share',
  age: 'Age',
  priorityClass: 'Priority class',
  size: 'Size',
};

/** "scheduling cycle 12 (04:51:07 UTC, 3s ago)", the leader's term too with several replicas (as the CLI says it). */
function cycleText(c: SchedulingCycleView): string {
  const term = c.term !== undefined ? ` of leader term ${c.term}` : '';
  return `scheduling cycle ${c.number}${term} (${c.startedAt.slice(11, 19)} UTC, ${fmtAgo(c.startedAt)})`;
}

export function JobExplanationView({ id }: { id: string }) {
  const { data: e, error } = usePoll(() => get<JobExplanation>(`/v1/jobs/${encodeURIComponent(id)}/explain`), 5000, [id]);
  if (!e) return <ErrorLine message={error} />;
  return (
    <div data-testid="job-explain">
      <ErrorLine message={error} />
      <dl class="facts">
        <dt>Place in queue</dt>
        <dd data-testid="queue-position">{e.position !== null ? `#${e.position}` : 'not ranked yet'}</dd>
        <dt>Expected start</dt>
        <dd data-testid="expected-start">
          {e.expectedStart ? (
            <>
              {fmtUntil(e.expectedStart)} <span class="muted">({fmtTime(e.expectedStart)})</span>
            </>
          ) : (
            <>
              unknown <span class="muted">(no backfill plan covers it yet)</span>
            </>
          )}
        </dd>
        {e.blockedBy.length > 0 && (
          <>
            <dt>Blocked by</dt>
            <dd data-testid="blocked-by">
              {e.blockedBy.map((b, i) => (
                <span key={b}>
                  {i > 0 && ', '}
                  <Link href={`/jobs/${encodeURIComponent(b)}`}>job {b}</Link>
                </span>
              ))}
            </dd>
          </>
        )}
      </dl>
      {e.counterfactual.length > 0 && (
        <>
          <h3>What would make it start now</h3>
          <ul class="plain suggestions" data-testid="counterfactual">
            {e.counterfactual.map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
        </>
      )}
      {e.priority && (
        <table class="data factors" data-testid="priority-factors">
          <caption>
            Priority <strong>{e.priority.total.toFixed(1)}</strong>
          </caption>
          <thead>
            <tr>
              <th scope="col">Factor</th>
              <th scope="col" class="num">
                Value (0–1)
              </th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(e.priority.factors).map(([k, v]) => (
              <tr key={k} data-factor={k}>
                <th scope="row">{FACTOR_LABELS[k] ?? k}</th>
                <td class="num">{v.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="muted small" data-testid="explain-cycle" data-cycle={e.cycle?.number}>
        {e.cycle ? `Explained as of ${cycleText(e.cycle)}.` : 'Not explained by a scheduling cycle yet.'}
        {e.stale && e.reasonCycle && <> The reason above is newer: {cycleText(e.reasonCycle)}.</>}
      </p>
    </div>
  );
}
