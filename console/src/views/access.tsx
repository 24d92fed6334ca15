/**
 * "Access" (lockbox): operator access to the organisation's data, which needs its consent.
 * Break-glass notices first (access taken without asking), then pending requests with everything an
 * admin needs to decide (cause, scope, country, duration, deadline) — admins approve or deny after a
 * confirmation — then every past request with the uses made of it. Operators see their requests
 * across organisations (and file new ones from a job's page).
 */
import { get, post, qs } from '../api/client.js';
import type { AccessNotification, AccessRequest, AccessUse } from '../api/sovereignty-types.js';
import { useMe } from '../auth/me.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtDuration, fmtTime, fmtUntil } from '../lib/format.js';
import { useConfirm } from '../lib/use-action.js';
import { usePoll } from '../lib/use-poll.js';

interface Items<T> {
  items: T[];
}

export function AccessView() {
  const me = useMe();
  const { data, error, reload } = usePoll(async () => {
    const [requests, uses, notices] = await Promise.all([
      get<Items<AccessRequest>>(`/v1/access-requests${qs({ limit: 500 })}`),
      get<Items<AccessUse>>(`/v1/access-uses${qs({ limit: 1000 })}`),
      get<Items<AccessNotification>>('/v1/access-notifications'),
    ]);
    return { requests: requests.items, uses: uses.items, notices: notices.items };
  }, 5000);
  const pending = data?.requests.filter((r) => r.state === 'pending') ?? [];
  const past = data?.requests.filter((r) => r.state !== 'pending') ?? [];
  const operator = me.role === 'operator';

  return (
    <>
      <h1>Operator access</h1>
      <p class="muted">
        {operator
          ? 'Your access requests to tenant data. File one from a job whose spec or logs are withheld.'
          : `Platform operators cannot read ${me.org}'s job specs, logs, secrets or datasets unless an admin of ${me.org} approves a request first. Every use of an approval is listed below.`}
      </p>
      <ErrorLine message={error} />
      {data && data.notices.length > 0 && (
        <section class="panel alert-panel" aria-labelledby="acc-notices" data-testid="break-glass-notices">
          <h2 id="acc-notices">Break-glass access ({data.notices.length})</h2>
          <p>An operator accessed data without prior approval, in an emergency. Review the justification and the uses.</p>
          <ul class="plain">
            {data.notices.map((n) => (
              <li key={n.id}>
                <strong>{fmtTime(n.createdAt)}</strong> · {n.message} <span class="muted">({n.accessRequest})</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section class="panel" aria-labelledby="acc-pending">
        <h2 id="acc-pending">Waiting for a decision ({pending.length})</h2>
        {data && pending.length === 0 && <p>No pending requests.</p>}
        {pending.map((r) => (
          <PendingRequest key={r.id} r={r} canDecide={me.role === 'admin'} showOrg={operator} onDone={reload} />
        ))}
      </section>
      <section class="panel" aria-labelledby="acc-past">
        <h2 id="acc-past">Decided and past requests</h2>
        {data && past.length === 0 && <p>None yet.</p>}
        {past.length > 0 && (
          <DataTable
            testid="access-past"
            cols={['Request', 'State', 'Cause and scope', 'Decision', 'Uses']}
            rows={past}
            row={(r) => {
              const uses = data?.uses.filter((u) => u.accessRequest === r.id) ?? [];
              return (
                <tr key={r.id} data-request={r.id} class={r.kind === 'break-glass' ? 'break-glass' : undefined}>
                  <th scope="row">
                    <code>{r.id}</code>
                    <div class="muted small">
                      {operator && `${r.org} · `}
                      {r.kind === 'break-glass' ? <strong>break-glass</strong> : 'request'} by {r.requester}
                    </div>
                  </th>
                  <td>
                    <span class={`badge access-${r.state}`} data-testid="access-state">
                      {r.state}
                    </span>
                    {r.state === 'active' && <div class="small">ends {fmtUntil(r.accessEndsAt)}</div>}
                  </td>
                  <td>
                    {r.cause}
                    <div class="muted small">
                      {r.scope.verbs.join(', ')} on {r.scope.objects.join(', ')} · from {r.requesterCountry}
                    </div>
                  </td>
                  <td class="small">
                    {r.decidedBy ? `${fmtTime(r.decidedAt)} by ${r.decidedBy}` : '–'}
                    {r.decisionComment && <div class="muted">“{r.decisionComment}”</div>}
                  </td>
                  <td class="small" data-testid="access-uses">
                    {uses.length === 0 ? (
                      'none'
                    ) : (
                      <ul class="plain">
                        {uses.map((u) => (
                          <li key={u.id}>
                            {fmtTime(u.at)}: {u.verb} {u.object} <span class="muted">by {u.actor}</span>
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              );
            }}
          />
        )}
      </section>
    </>
  );
}

function PendingRequest({
  r,
  canDecide,
  showOrg,
  onDone,
}: {
  r: AccessRequest;
  canDecide: boolean;
  showOrg: boolean;
  onDone: () => void;
}) {
  const deciding = useConfirm<'approve' | 'deny'>();
  const asking = deciding.subject;
  const decide = (comment: string) =>
    deciding.confirm(
      (verdict) => post<AccessRequest>(`/v1/access-requests/${encodeURIComponent(r.id)}/${verdict}`, comment ? { comment } : {}),
      onDone,
    );
  return (
    <article class="request" data-request={r.id} aria-labelledby={`acr-${r.id}`}>
      <h3 id={`acr-${r.id}`}>
        {r.requester} asks to {r.scope.verbs.join(', ')} {r.scope.objects.join(', ')}
        {showOrg && <span class="muted"> · {r.org}</span>}
      </h3>
      <dl class="facts">
        <dt>Cause</dt>
        <dd data-testid="access-cause">
          {r.cause} <span class="muted">({r.reasonCode})</span>
        </dd>
        <dt>Scope</dt>
        <dd>
          {r.scope.verbs.join(', ')} on {r.scope.objects.join(', ')}
        </dd>
        <dt>Accessed from</dt>
        <dd>{r.requesterCountry}</dd>
        <dt>Duration once approved</dt>
        <dd>{fmtDuration(r.durationSeconds)}</dd>
        <dt>Derived copies kept</dt>
        <dd>{r.derivedDataRetentionDays} days</dd>
        <dt>Answer by</dt>
        <dd>
          {fmtTime(r.approvalDeadline)} ({fmtUntil(r.approvalDeadline)}); unanswered, it expires
        </dd>
        <dt>Filed</dt>
        <dd>
          {fmtTime(r.createdAt)} · <code>{r.id}</code>
        </dd>
      </dl>
      {canDecide && (
        <div class="actions-row">
          <button type="button" class="primary" onClick={() => deciding.ask('approve')}>
            Approve…
          </button>
          <button type="button" class="danger" onClick={() => deciding.ask('deny')}>
            Deny…
          </button>
        </div>
      )}
      <ConfirmDialog
        {...deciding.dialog}
        title={asking === 'approve' ? `Approve access for ${r.requester}?` : `Deny access for ${r.requester}?`}
        confirmLabel={asking === 'approve' ? 'Approve' : 'Deny'}
        askReason
        reasonLabel="Comment for the operator (recorded in the audit log)"
        onConfirm={(c) => void decide(c)}
      >
        {asking === 'approve' ? (
          <p>
            {r.requester} may {r.scope.verbs.join(', ')} {r.scope.objects.join(', ')} for {fmtDuration(r.durationSeconds)} from
            now, from {r.requesterCountry}. Every use is recorded and listed here.
          </p>
        ) : (
          <p>The operator gets no access; the request stays on record as denied.</p>
        )}
      </ConfirmDialog>
    </article>
  );
}
