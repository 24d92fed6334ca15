/** Operator view: pending jobs grouped by why they wait (pending reason code), largest group first. */
import { get } from '../api/client.js';
import type { QueueSummary } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtInt } from '../lib/format.js';
import { Link } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

export function QueueView() {
  const { data, error } = usePoll(() => get<QueueSummary>('/v1/queue/summary?limit=20'), 5000);
  return (
    <>
      <h1>Queue</h1>
      <ErrorLine message={error} />
      {data && (
        <p data-testid="queue-total">
          {fmtInt(data.total)} job{data.total === 1 ? '' : 's'} waiting.
        </p>
      )}
      {data && data.groups.length > 0 && (
        <table class="data">
          <caption class="sr-only">Pending jobs by reason</caption>
          <thead>
            <tr>
              <th scope="col">Reason</th>
              <th scope="col" class="num">
                Jobs
              </th>
              <th scope="col" class="num">
                GPUs asked for
              </th>
              <th scope="col">Oldest jobs</th>
            </tr>
          </thead>
          <tbody>
            {data.groups.map((g) => (
              <tr key={g.code} data-reason={g.code}>
                <th scope="row">
                  <code>{g.code}</code>
                </th>
                <td class="num">{fmtInt(g.count)}</td>
                <td class="num">{fmtInt(g.gpus)}</td>
                <td>
                  <details>
                    <summary>{g.jobs[0]?.message ?? ''}</summary>
                    <ul class="plain">
                      {g.jobs.map((j) => (
                        <li key={j.id}>
                          <Link href={`/jobs/${j.id}`}>job {j.id}</Link> · {j.org}/{j.project} · {fmtInt(j.gpus)}{' '}
                          {j.gpuType ?? 'any'} — {j.message}
                        </li>
                      ))}
                    </ul>
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
