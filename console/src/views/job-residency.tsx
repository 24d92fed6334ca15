/**
 * A job's residency evidence (/v1/jobs/{id}/residency): for each start, the site's jurisdiction,
 * operator and current attestations, the policy versions and data classes in force, and the rules
 * checked; then where the job may run now and why each other site is excluded; and any flag raised
 * when a running job's site stopped qualifying.
 */
import { get } from '../api/client.js';
import type { JobResidency, PlacementEvidence } from '../api/sovereignty-types.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtTime } from '../lib/format.js';
import { siteList } from '../lib/residency-text.js';
import { usePoll } from '../lib/use-poll.js';

const pv = (v: { name: string; version: number } | null) => (v ? `${v.name} v${v.version}` : null);

export function JobResidencyPanel({ id, version }: { id: string; version: string }) {
  // Re-read when the job's state changes (a start writes new evidence), not on a timer.
  const { data, error } = usePoll(() => get<JobResidency>(`/v1/jobs/${encodeURIComponent(id)}/residency`), 0, [id, version]);
  return (
    <section class="panel" aria-labelledby="job-residency" data-testid="job-residency">
      <h2 id="job-residency">Residency evidence</h2>
      <ErrorLine message={error} />
      {data && (
        <>
          {data.flags.map((f) => (
            <p class="notice" role="status" key={f.at} data-testid="residency-flag">
              <strong>Flagged {fmtTime(f.at)}:</strong> {f.message}
            </p>
          ))}
          {data.placements.length === 0 ? (
            <p>No start recorded: evidence is written in the transaction that starts the job.</p>
          ) : (
            data.placements.map((e, i) => <Evidence key={`${e.at}-${i}`} e={e} n={i + 1} of={data.placements.length} />)
          )}
          <h3>Where it may run now</h3>
          <p>
            Allowed: <strong>{siteList(data.evaluation.allowedSites)}</strong>
            {data.evaluation.dataClasses.length > 0 && <> · data classes {data.evaluation.dataClasses.join(', ')}</>}
          </p>
          {data.evaluation.waitingReason && <p class="why">{data.evaluation.waitingReason}</p>}
          {data.evaluation.excluded.length > 0 && (
            <ul class="plain small">
              {data.evaluation.excluded.map((x) => (
                <li key={x.site}>
                  {x.site} excluded: {x.reason} <span class="muted">(rule {x.rule})</span>
                </li>
              ))}
            </ul>
          )}
          <p class="muted small">Evaluated {fmtTime(data.evaluation.evaluatedAt)}.</p>
        </>
      )}
    </section>
  );
}

function Evidence({ e, n, of }: { e: PlacementEvidence; n: number; of: number }) {
  const policies = [pv(e.policyVersions.org), pv(e.policyVersions.project)].filter(Boolean);
  return (
    <div class="evidence" data-testid="residency-evidence">
      {of > 1 && <h3>Start {n}</h3>}
      <p data-testid="evidence-summary">
        Ran in <strong>{e.site.name}</strong> ({e.site.id}), {e.site.city}, {e.site.countryName || e.site.country}{' '}
        {e.site.eu ? '(EU)' : e.site.eea ? '(EEA)' : <strong>(outside the EU/EEA)</strong>}, from {fmtTime(e.at)}.
      </p>
      <dl class="facts">
        <dt>Operator</dt>
        <dd>{e.site.operator ? `${e.site.operator.name}, established in ${e.site.operator.establishment}` : 'not recorded'}</dd>
        <dt>Attestations current at start</dt>
        <dd>
          {e.site.currentAttestations.length === 0
            ? 'none'
            : e.site.currentAttestations.map((a) => `${a.name} (valid until ${a.validUntil})`).join('; ')}
        </dd>
        <dt>Policies in force</dt>
        <dd>{policies.join(' and ') || 'none (built-in data-class rules only)'}</dd>
        <dt>Data classes</dt>
        <dd>
          {e.dataClasses.join(', ') || 'none declared'}
          {e.datasets && e.datasets.length > 0 && (
            <span class="muted"> (datasets {e.datasets.map((d) => `${d.name}: ${d.classification}`).join(', ')})</span>
          )}
        </dd>
        <dt>Sites allowed at start</dt>
        <dd>{siteList(e.allowedSites)}</dd>
      </dl>
      {e.rules.length > 0 && (
        <details>
          <summary>
            {e.rules.length} rule{e.rules.length === 1 ? '' : 's'} checked
          </summary>
          <ul class="small">
            {e.rules.map((r) => (
              <li key={r.id}>
                {r.requirement} <span class="muted">({r.source})</span>
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
