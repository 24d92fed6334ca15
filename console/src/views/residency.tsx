/**
 * Tenant view "Data & residency": where the organisation's data may be processed (its residency
 * policy, the projects' stricter ones, and every version with the sites allowed before and after),
 * its datasets, the residency report of a period (downloadable as CSV or JSON), and the record of
 * processing (GDPR Art. 30(2)) — the evidence a tenant hands to its auditor.
 */
import { useState } from 'preact/hooks';
import { download, get, qs } from '../api/client.js';
import type { Dataset, ProcessingRecord, ResidencyPolicy, ResidencyReport } from '../api/sovereignty-types.js';
import type { Page, Project } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtInt, fmtTime } from '../lib/format.js';
import { attempt } from '../lib/problem.js';
import { fmtBytes, ruleLines, siteList } from '../lib/residency-text.js';
import { Link } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

export function ResidencyView() {
  const me = useMe();
  const org = me.org ?? '';
  return (
    <>
      <h1>Data and residency</h1>
      <p class="muted">
        Where {org}'s jobs may run and did run, under which rules. Every placement is checked against these rules in the
        transaction that starts the job, and recorded as evidence.
      </p>
      <PolicySection org={org} />
      <DatasetsSection />
      <ReportSection org={org} />
      <ProcessingRecordSection org={org} />
    </>
  );
}

function PolicySection({ org }: { org: string }) {
  const enc = encodeURIComponent(org);
  const { data, error } = usePoll(async () => {
    const [current, versions, projects] = await Promise.all([
      get<ResidencyPolicy>(`/v1/orgs/${enc}/residency-policy`),
      get<Page<ResidencyPolicy>>(`/v1/orgs/${enc}/residency-policy/versions`),
      get<Page<Project>>('/v1/projects'),
    ]);
    const projectPolicies = await Promise.all(
      projects.items.map((p) => get<ResidencyPolicy>(`/v1/projects/${encodeURIComponent(p.id)}/residency-policy`)),
    );
    return { current, versions: versions.items, projectPolicies };
  }, 30_000);
  const current = data?.current;
  return (
    <section class="panel" aria-labelledby="res-policy" data-testid="residency-policy">
      <h2 id="res-policy">Residency policy</h2>
      <ErrorLine message={error} />
      {current &&
        (current.version === 0 ? (
          <p>
            No organisation policy is set: jobs may run at any site, within the built-in rules of their data classes. An admin
            sets one with <code>gigafab residency policy set --org {org}</code>.
          </p>
        ) : (
          <PolicyFacts policy={current} />
        ))}
      {data?.projectPolicies.some((p) => p.version > 0) && (
        <>
          <h3>Project policies (stricter than the organisation's)</h3>
          <ul class="plain">
            {data.projectPolicies
              .filter((p) => p.version > 0)
              .map((p) => (
                <li key={p.scopeId}>
                  <strong>{p.scopeId}</strong>: {p.name} v{p.version} — {ruleLines(p.rules).join('; ')}; data classes{' '}
                  {p.dataClasses.join(', ') || 'none'}
                </li>
              ))}
          </ul>
        </>
      )}
      {data && data.versions.length > 0 && (
        <>
          <h3>Version history</h3>
          <DataTable
            testid="policy-versions"
            cols={['Version', 'Set', 'Rules', 'Allowed sites before → after']}
            rows={data.versions}
            row={(v) => (
              <tr key={v.version} class={v.sitesChanged ? 'moved' : undefined}>
                <th scope="row">
                  {v.name} v{v.version}
                </th>
                <td class="nowrap">
                  {fmtTime(v.createdAt)}
                  <div class="muted small">by {v.createdBy ?? '–'}</div>
                </td>
                <td>
                  {ruleLines(v.rules).join('; ')}
                  <div class="muted small">data classes: {v.dataClasses.join(', ') || 'none'}</div>
                </td>
                <td>
                  {siteList(v.sitesBefore)} → <strong>{siteList(v.sitesAfter)}</strong>
                  {v.sitesChanged && <div class="badge moved-badge">processing location changed</div>}
                </td>
              </tr>
            )}
          />
        </>
      )}
    </section>
  );
}

function PolicyFacts({ policy }: { policy: ResidencyPolicy }) {
  return (
    <dl class="facts">
      <dt>Policy</dt>
      <dd data-testid="policy-current">
        {policy.name} version {policy.version}
      </dd>
      <dt>Rules</dt>
      <dd>
        <ul class="plain">
          {ruleLines(policy.rules).map((l) => (
            <li key={l}>{l}</li>
          ))}
        </ul>
      </dd>
      <dt>Data classes allowed</dt>
      <dd>{policy.dataClasses.join(', ') || 'none'}</dd>
      <dt>Sites allowed now</dt>
      <dd>{siteList(policy.sitesAfter)}</dd>
      <dt>Set</dt>
      <dd>
        {fmtTime(policy.createdAt)} by {policy.createdBy ?? '–'}
      </dd>
    </dl>
  );
}

function DatasetsSection() {
  const { data, error } = usePoll(() => get<Page<Dataset>>('/v1/datasets'), 30_000);
  return (
    <section class="panel" aria-labelledby="res-datasets">
      <h2 id="res-datasets">Datasets</h2>
      <ErrorLine message={error} />
      {data && data.items.length === 0 && (
        <p>
          No datasets registered. Register one with <code>gigafab dataset create</code>; jobs name them in{' '}
          <code>datasets.reads</code>/<code>writes</code>, and their class's rules then bind the job.
        </p>
      )}
      {data && data.items.length > 0 && (
        <DataTable
          testid="datasets"
          cols={['Dataset', 'Project', 'Class', 'Home site', { label: 'Size', num: true }, 'Registered']}
          rows={data.items}
          row={(d) => (
            <tr key={d.id}>
              <th scope="row">
                {d.name} <span class="muted small">{d.id}</span>
              </th>
              <td>{d.project}</td>
              <td>
                <span class={`badge class-${d.classification}`}>{d.classification}</span>
              </td>
              <td>{d.homeSite}</td>
              <td class="num">{fmtBytes(d.sizeBytes)}</td>
              <td class="nowrap">
                {fmtTime(d.createdAt)} <span class="muted small">by {d.createdBy}</span>
              </td>
            </tr>
          )}
        />
      )}
    </section>
  );
}

const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10);

function ReportSection({ org }: { org: string }) {
  const [from, setFrom] = useState(() => isoDay(Date.now() - 30 * 86_400_000));
  const [to, setTo] = useState(() => isoDay(Date.now() + 86_400_000));
  const [report, setReport] = useState<ResidencyReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const path = (format: 'json' | 'csv') => `/v1/orgs/${encodeURIComponent(org)}/residency-report${qs({ from, to, format })}`;
  const show = async (e: Event) => {
    e.preventDefault();
    const r = await attempt(() => get<ResidencyReport>(path('json')), setError, setBusy);
    if (r) setReport(r);
  };
  const save = (format: 'json' | 'csv') =>
    void attempt(
      () =>
        download(path(format), `residency-${org}-${from}-${to}.${format}`, format === 'csv' ? 'text/csv' : 'application/json'),
      setError,
    );
  return (
    <section class="panel" aria-labelledby="res-report">
      <h2 id="res-report">Residency report</h2>
      <p class="muted">One row per job start in the period: where it ran, under which attestations and policy versions.</p>
      <form class="toolbar" onSubmit={(e) => void show(e)}>
        <label>
          From <input type="date" name="from" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To (exclusive) <input type="date" name="to" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          Show report
        </button>
        <button type="button" onClick={() => save('csv')}>
          Download CSV
        </button>
        <button type="button" onClick={() => save('json')}>
          Download JSON
        </button>
      </form>
      <ErrorLine message={error} />
      {report && report.items.length === 0 && (
        <p>
          No job of {org} started between {fmtTime(report.from)} and {fmtTime(report.to)}.
        </p>
      )}
      {report && report.items.length > 0 && (
        <DataTable
          testid="residency-report"
          caption="Job starts in the period"
          cols={['Job', 'Started', 'Site', 'Attestations', 'Policies', 'Data classes']}
          rows={report.items}
          row={(r) => (
            <tr key={`${r.jobId}-${r.startedAt}`} title={r.summary}>
              <th scope="row">
                <Link href={`/jobs/${encodeURIComponent(r.jobId)}`}>{r.jobId}</Link> {r.jobName}
                <div class="muted small">{r.project}</div>
              </th>
              <td class="nowrap">{fmtTime(r.startedAt)}</td>
              <td>
                {r.site}: {r.city}, {r.country}{' '}
                {r.eea ? <span class="muted small">(EU/EEA)</span> : <strong>(outside the EU/EEA)</strong>}
                <div class="muted small">{r.operator ?? 'operator not recorded'}</div>
              </td>
              <td>{r.attestations.join(', ') || 'none current'}</td>
              <td>{[r.orgPolicy, r.projectPolicy].filter(Boolean).join(', ') || 'none'}</td>
              <td>{r.dataClasses.join(', ') || '–'}</td>
            </tr>
          )}
        />
      )}
    </section>
  );
}

function ProcessingRecordSection({ org }: { org: string }) {
  const { data: rec, error } = usePoll(
    () => get<ProcessingRecord>(`/v1/orgs/${encodeURIComponent(org)}/processing-record`),
    60_000,
  );
  return (
    <section class="panel" aria-labelledby="res-ropa" data-testid="processing-record">
      <h2 id="res-ropa">Record of processing (GDPR Art. 30(2))</h2>
      <ErrorLine message={error} />
      {rec && (
        <>
          <p class="muted small">Generated from live state {fmtTime(rec.generatedAt)}.</p>
          <dl class="facts">
            <dt>Controller</dt>
            <dd>
              {rec.controller.name} ({rec.controller.org}, {rec.controller.kind})
            </dd>
            <dt>Processors</dt>
            <dd>{rec.processors.map((p) => `${p.name} (established in ${p.establishment})`).join('; ') || 'none recorded'}</dd>
            <dt>Categories of processing</dt>
            <dd>
              <ul class="plain">
                {rec.categoriesOfProcessing.map((c) => (
                  <li key={c}>{c}</li>
                ))}
              </ul>
            </dd>
            <dt>Data classes</dt>
            <dd>{rec.dataClasses.join(', ') || 'none declared'}</dd>
            <dt>Residency policies</dt>
            <dd>
              {rec.residencyPolicies.length === 0
                ? 'none set'
                : rec.residencyPolicies.map((p) => (
                    <div key={`${p.scope}-${p.scopeId}`}>
                      {p.scope} {p.scopeId}: {p.name} v{p.version} — {ruleLines(p.rules).join('; ')}
                    </div>
                  ))}
            </dd>
            <dt>Transfers outside the EU/EEA</dt>
            <dd data-testid="ropa-transfers">
              {rec.transfersOutsideEea.length === 0 ? (
                'none'
              ) : (
                <strong>{rec.transfersOutsideEea.map((t) => `${t.site} (${t.country}): ${t.safeguard}`).join('; ')}</strong>
              )}
            </dd>
          </dl>
          <h3>Sites used</h3>
          {rec.sitesUsed.length === 0 ? (
            <p>No job has been placed and no dataset is stored yet.</p>
          ) : (
            <DataTable
              cols={[
                'Site',
                'Jurisdiction',
                'Operator',
                { label: 'Placements', num: true },
                { label: 'Datasets', num: true },
                'First / last placement',
              ]}
              rows={rec.sitesUsed}
              row={(s) => (
                <tr key={s.id}>
                  <th scope="row">
                    {s.id} <span class="muted small">{s.name}</span>
                  </th>
                  <td>
                    {s.city}, {s.country} {s.eu ? '(EU)' : s.eea ? '(EEA)' : '(outside the EU/EEA)'}
                  </td>
                  <td>{s.operator ? `${s.operator.name} (${s.operator.establishment})` : '–'}</td>
                  <td class="num">{fmtInt(s.placements)}</td>
                  <td class="num">{fmtInt(s.datasets)}</td>
                  <td class="nowrap small">
                    {fmtTime(s.firstPlacement)} / {fmtTime(s.lastPlacement)}
                  </td>
                </tr>
              )}
            />
          )}
          <h3>Retention</h3>
          <ul class="plain">
            {rec.retention.map((r) => (
              <li key={r.what}>
                <strong>{r.what}</strong>: {r.period}
              </li>
            ))}
          </ul>
          <h3>Technical and organisational measures</h3>
          <ul>
            {rec.technicalAndOrganisationalMeasures.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
