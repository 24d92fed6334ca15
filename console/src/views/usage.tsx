/** Usage and quota of the caller's projects: GPUs in use against quota, and jobs running and waiting. */
import { get } from '../api/client.js';
import type { Job, Page, Project } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { QuotaBar } from '../components/quota-bar.js';
import { fmtInt } from '../lib/format.js';
import { usePoll } from '../lib/use-poll.js';

export function UsageView() {
  const { data, error } = usePoll(async () => {
    const [projects, running, queued] = await Promise.all([
      get<Page<Project>>('/v1/projects'),
      get<Page<Job>>('/v1/jobs?state=running&limit=1000'),
      get<Page<Job>>('/v1/jobs?state=queued&limit=1000'),
    ]);
    const count = (jobs: Job[], project: string) => jobs.filter((j) => j.project === project).length;
    return projects.items.map((p) => ({ ...p, running: count(running.items, p.id), queued: count(queued.items, p.id) }));
  }, 5000);
  return (
    <>
      <h1>Usage and quota</h1>
      <ErrorLine message={error} />
      {data && data.length === 0 && <p>Your organisation has no projects yet.</p>}
      {data?.map((p) => (
        <section class="panel" key={p.id} aria-labelledby={`p-${p.id}`} data-project={p.id}>
          <h2 id={`p-${p.id}`}>
            {p.name} <span class="muted">({p.id})</span>
          </h2>
          <p>
            {fmtInt(p.running)} job{p.running === 1 ? '' : 's'} running, {fmtInt(p.queued)} waiting.
          </p>
          {p.quotas.length === 0 ? (
            <p>No GPU quota: jobs of this project wait with reason no_quota until an operator sets one.</p>
          ) : (
            <table class="data">
              <thead>
                <tr>
                  <th scope="col">GPU type</th>
                  <th scope="col">In use / quota</th>
                </tr>
              </thead>
              <tbody>
                {p.quotas.map((q) => (
                  <tr key={q.gpuType}>
                    <th scope="row">{q.gpuType}</th>
                    <td>
                      <QuotaBar used={q.used} quota={q.gpus} label={`${q.gpuType} GPUs in use against quota`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ))}
    </>
  );
}
