/**
 * "API tokens": the tokens the signed-in user may see (their own; an org admin: the organisation's;
 * an operator: the operators'), metadata only (never a token or its hash), with expiry and last
 * use; revoking one (its owner or an admin) asks first. A new token for oneself is shown once, in
 * the notice that says so, and is gone from the page when it is dismissed. Admins also disable and
 * enable their organisation's users (which revokes all their tokens).
 */
import { useState } from 'preact/hooks';
import { get, post } from '../api/client.js';
import type { Page, TokenInfo, User } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { Form, SubmitRow, TextField } from '../components/field.js';
import { fmtTime } from '../lib/format.js';
import { useAction, useConfirm } from '../lib/use-action.js';
import { usePoll } from '../lib/use-poll.js';

interface Issued {
  token: string;
  tokenInfo: TokenInfo;
}

export function TokensView() {
  const me = useMe();
  const { data, error, reload } = usePoll(() => get<{ items: TokenInfo[] }>('/v1/tokens'), 30_000);
  const revoking = useConfirm<TokenInfo>();
  const mayRevoke = (t: TokenInfo) =>
    t.state === 'active' && (t.owner === me.id || me.role === 'admin' || me.role === 'operator');
  return (
    <>
      <h1>API tokens</h1>
      <p class="muted">
        {me.role === 'admin'
          ? `Every token of ${me.org}'s users.`
          : me.role === 'operator'
            ? "The operators' tokens; tenants' tokens are theirs to see."
            : 'Your tokens.'}{' '}
        Tokens are shown once when issued and stored only as hashes; this list is their metadata.
      </p>
      <section class="panel" aria-labelledby="tok-title">
        <h2 id="tok-title">Tokens</h2>
        <ErrorLine message={error} />
        {data && data.items.length === 0 && <p>No tokens.</p>}
        {data && data.items.length > 0 && (
          <DataTable
            testid="tokens"
            cols={['Id', 'Name', 'Owner', 'State', 'Created', 'Expires', 'Last used', 'Actions']}
            rows={data.items}
            row={(t) => (
              <tr key={t.id} data-token={t.id}>
                <th scope="row">
                  <code>{t.id}</code>
                </th>
                <td>{t.name ?? '–'}</td>
                <td>
                  <code>{t.owner}</code>
                </td>
                <td data-state={t.state}>{t.state}</td>
                <td>{fmtTime(t.createdAt)}</td>
                <td>{t.expiresAt ? fmtTime(t.expiresAt) : 'never'}</td>
                <td>{t.lastUsedAt ? fmtTime(t.lastUsedAt) : 'never'}</td>
                <td>
                  {mayRevoke(t) && (
                    <button type="button" class="danger" onClick={() => revoking.ask(t)}>
                      Revoke…
                    </button>
                  )}
                </td>
              </tr>
            )}
          />
        )}
        <NewTokenForm userId={me.id} onDone={reload} />
        <ConfirmDialog
          {...revoking.dialog}
          title={`Revoke token ${revoking.subject?.id ?? ''}?`}
          confirmLabel="Revoke token"
          onConfirm={() => void revoking.confirm((t) => post(`/v1/tokens/${encodeURIComponent(t.id)}/revoke`), reload)}
        >
          <p>
            It stops working at once{revoking.subject?.owner === me.id ? ', also in this console if you signed in with it' : ''}.
          </p>
        </ConfirmDialog>
      </section>
      {me.role === 'admin' && me.org && <UsersSection org={me.org} selfId={me.id} onChange={reload} />}
    </>
  );
}

function NewTokenForm({ userId, onDone }: { userId: string; onDone: () => void }) {
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [issued, setIssued] = useState<Issued | null>(null);
  const { busy, error, run } = useAction();
  const submit = async () => {
    setIssued(null);
    await run(async () => {
      const body = { ...(name.trim() ? { name: name.trim() } : {}), ...(days.trim() ? { expiresInDays: Number(days) } : {}) };
      setIssued(await post<Issued>(`/v1/users/${encodeURIComponent(userId)}/tokens`, body));
      setName('');
      setDays('');
      onDone();
    });
  };
  return (
    <Form id="tok-new" title="Issue a token for yourself" kind="inline-form" onSubmit={submit}>
      <TextField id="tok-name" label="Name (what it is for)" value={name} autoComplete="off" onValue={setName} />
      <TextField
        id="tok-days"
        label="Expires in days (empty: the server's default)"
        value={days}
        inputMode="numeric"
        onValue={setDays}
      />
      <ErrorLine message={error} />
      {issued && (
        <div class="notice" role="status" data-testid="token-issued">
          <p>
            Token <code>{issued.tokenInfo.id}</code>, valid until {fmtTime(issued.tokenInfo.expiresAt)}. Copy it now: it is not
            shown again.
          </p>
          <code class="secret">{issued.token}</code>{' '}
          <button type="button" onClick={() => setIssued(null)}>
            Done
          </button>
        </div>
      )}
      <SubmitRow label="Issue token" busy={busy} />
    </Form>
  );
}

function UsersSection({ org, selfId, onChange }: { org: string; selfId: string; onChange: () => void }) {
  const { data, error, reload } = usePoll(() => get<Page<User>>(`/v1/orgs/${encodeURIComponent(org)}/users`), 30_000);
  const disabling = useConfirm<User>();
  const enable = useAction();
  const done = () => {
    reload();
    onChange();
  };
  return (
    <section class="panel" aria-labelledby="users-title">
      <h2 id="users-title">Users of {org}</h2>
      <ErrorLine message={error ?? enable.error} />
      {data && (
        <DataTable
          testid="users"
          cols={['User', 'Name', 'Role', 'Created by', 'State', 'Actions']}
          rows={data.items}
          row={(u) => (
            <tr key={u.id} data-user={u.id}>
              <th scope="row">
                <code>{u.id}</code>
              </th>
              <td>{u.name}</td>
              <td>{u.role}</td>
              <td>
                <code>{u.createdBy ?? '–'}</code>
              </td>
              <td>{u.disabledAt ? `disabled ${fmtTime(u.disabledAt)}` : 'active'}</td>
              <td>
                {u.id !== selfId && !u.disabledAt && (
                  <button type="button" class="danger" onClick={() => disabling.ask(u)}>
                    Disable…
                  </button>
                )}
                {u.disabledAt && (
                  <button
                    type="button"
                    disabled={enable.busy}
                    onClick={() => void enable.run(() => post(`/v1/users/${encodeURIComponent(u.id)}/enable`)).then(done)}
                  >
                    Enable
                  </button>
                )}
              </td>
            </tr>
          )}
        />
      )}
      <ConfirmDialog
        {...disabling.dialog}
        title={`Disable ${disabling.subject?.name ?? ''}?`}
        confirmLabel="Disable user"
        askReason
        onConfirm={(reason) =>
          void disabling.confirm((u) => post(`/v1/users/${encodeURIComponent(u.id)}/disable`, { reason }), done)
        }
      >
        <p>All of the user's tokens are revoked now; enabling the user later does not bring them back.</p>
      </ConfirmDialog>
    </section>
  );
}
