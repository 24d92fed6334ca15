/** Operator view: organisations, their projects and quotas with current use. */
import { get } from '../api/client.js';
import type { Org, Page, Project } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { QuotaBar } from '../components/quota-bar.js';
import { usePoll } from '../lib/use-poll.js';

export function TenantsView() {
  const { data, error } = usePoll(async () => {
    const [orgs, projects] = await Promise.all([get<Page<Org>>('/v1/orgs'), get<Page<Project>>('/v1/projects')]);
    return { orgs: orgs.items, projects: projects.items };
  }, 10_000);
  return (
    <>
      <h1>Tenants</h1>
      <ErrorLine message={error} />
      {data && data.orgs.length === 0 && <p>No organisations yet. Create one with the CLI: gigafab org create.</p>}
      {data?.orgs.map((o) => {
        const projects = data.projects.filter((p) => p.org === o.id);
        return (
          <section class="panel" key={o.id} aria-labelledby={`org-${o.id}`}>
            <h2 id={`org-${o.id}`}>
              {o.name}{' '}
              <span class="muted">
                ({o.id}, {o.kind})
              </span>
            </h2>
            {projects.length === 0 ? (
              <p>No projects.</p>
            ) : (
              <table class="data">
                <thead>
                  <tr>
                    <th scope="col">Project</th>
                    <th scope="col">GPU type</th>
                    <th scope="col">In use / quota</th>
                  </tr>
                </thead>
                <tbody>
                  {projects.flatMap((p) =>
                    p.quotas.length === 0
                      ? [
                          <tr key={p.id}>
                            <th scope="row">{p.id}</th>
                            <td colSpan={2}>no quota</td>
                          </tr>,
                        ]
                      : p.quotas.map((q, i) => (
                          <tr key={`${p.id}/${q.gpuType}`}>
                            <th scope="row">{i === 0 ? p.id : ''}</th>
                            <td>{q.gpuType}</td>
                            <td>
                              <QuotaBar used={q.used} quota={q.gpus} label={`${p.id} ${q.gpuType} GPUs in use against quota`} />
                            </td>
                          </tr>
                        )),
                  )}
                </tbody>
              </table>
            )}
          </section>
        );
      })}
    </>
  );
}
