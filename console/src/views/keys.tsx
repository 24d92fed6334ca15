/**
 * "Keys and secrets": the organisation's secrets (metadata only: values are write-only and never
 * come back), its key-encryption key versions with rotation, and the restriction of processing
 * (GDPR Art. 18). Changing anything is for org admins; the API enforces it and its sentence is shown.
 *
 * The secret value lives only in an uncontrolled password input: it is never kept in component
 * state, and the input is emptied as soon as the server has accepted it.
 */
import { useRef, useState } from 'preact/hooks';
import { del, get, post, put } from '../api/client.js';
import type { KeysStatus, Restriction, RotateResult, SecretMeta } from '../api/sovereignty-types.js';
import type { Page } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { Form, SubmitRow, TextField } from '../components/field.js';
import { fmtTime } from '../lib/format.js';
import { useAction, useConfirm } from '../lib/use-action.js';
import { usePoll } from '../lib/use-poll.js';

export function KeysView() {
  const me = useMe();
  const org = me.org ?? '';
  const admin = me.role === 'admin';
  return (
    <>
      <h1>Keys and secrets</h1>
      <p class="muted">
        {org}'s secrets are encrypted under its own key hierarchy and handed to a job only when its driver starts it.
      </p>
      <RestrictionSection org={org} admin={admin} />
      <SecretsSection org={org} admin={admin} />
      {admin && <KeysSection org={org} />}
    </>
  );
}

const orgPath = (org: string, rest: string) => `/v1/orgs/${encodeURIComponent(org)}/${rest}`;

function SecretsSection({ org, admin }: { org: string; admin: boolean }) {
  const { data, error, reload } = usePoll(() => get<Page<SecretMeta>>(orgPath(org, 'secrets')), 15_000);
  const deleting = useConfirm<string>();
  return (
    <section class="panel" aria-labelledby="sec-title">
      <h2 id="sec-title">Secrets</h2>
      <ErrorLine message={error} />
      {data && data.items.length === 0 && <p>No secrets yet.</p>}
      {data && data.items.length > 0 && (
        <DataTable
          testid="secrets"
          cols={['Name', 'Description', { label: 'Version', num: true }, 'Last set', admin && 'Actions']}
          rows={data.items}
          row={(s) => (
            <tr key={s.name} data-secret={s.name}>
              <th scope="row">
                <code>{s.name}</code>
              </th>
              <td>{s.description ?? '–'}</td>
              <td class="num">{s.version}</td>
              <td class="nowrap">
                {fmtTime(s.updatedAt)} <span class="muted small">by {s.updatedBy}</span>
              </td>
              {admin && (
                <td>
                  <button type="button" class="danger" onClick={() => deleting.ask(s.name)}>
                    Delete…
                  </button>
                </td>
              )}
            </tr>
          )}
        />
      )}
      <p class="muted small">
        Jobs use a secret by name: <code>secretEnv: {'{ HF_TOKEN: hf-token }'}</code> in the job spec.
      </p>
      {admin ? (
        <SetSecretForm org={org} existing={data?.items.map((x) => x.name) ?? []} onDone={reload} />
      ) : (
        <p>Only organisation admins set and delete secrets.</p>
      )}
      <ConfirmDialog
        {...deleting.dialog}
        title={`Delete secret ${deleting.subject}?`}
        confirmLabel="Delete secret"
        onConfirm={() => void deleting.confirm((name) => del(orgPath(org, `secrets/${encodeURIComponent(name)}`)), reload)}
      >
        <p>
          Its data key is shredded: no copy of its value can be decrypted again. Jobs that name it can no longer be submitted.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function SetSecretForm({ org, existing, onDone }: { org: string; existing: string[]; onDone: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const value = useRef<HTMLInputElement>(null);
  const { busy, error, run } = useAction();
  const [done, setDone] = useState<string | null>(null);
  const submit = async () => {
    setDone(null);
    await run(async () => {
      const n = name.trim();
      const body = { value: value.current?.value ?? '', ...(description.trim() ? { description: description.trim() } : {}) };
      // A new name is created with POST, whose schema checks the name; an existing one is replaced with PUT.
      const meta = existing.includes(n)
        ? await put<SecretMeta>(orgPath(org, `secrets/${encodeURIComponent(n)}`), body)
        : await post<SecretMeta>(orgPath(org, 'secrets'), { name: n, ...body });
      if (value.current) value.current.value = '';
      setDone(`Secret ${meta.name} stored (version ${meta.version}). Its value is not shown again.`);
      setName('');
      setDescription('');
      onDone();
    });
  };
  return (
    <Form id="sec-set" title="Set a secret" kind="secret-form" onSubmit={submit}>
      <p class="muted small">Setting an existing name replaces its value (a new version).</p>
      <TextField id="sec-name" label="Name" value={name} autoComplete="off" onValue={setName} />
      <div class="field">
        <label for="sec-value">Value (write-only)</label>
        <input id="sec-value" ref={value} type="password" autoComplete="new-password" spellcheck={false} />
      </div>
      <TextField id="sec-desc" label="Description (optional)" value={description} onValue={setDescription} />
      <ErrorLine message={error} />
      {done && (
        <p class="notice" role="status" data-testid="secret-stored">
          {done}
        </p>
      )}
      <SubmitRow label="Store secret" busy={busy} />
    </Form>
  );
}

function KeysSection({ org }: { org: string }) {
  const { data, error, reload } = usePoll(() => get<KeysStatus>(orgPath(org, 'keys')), 30_000);
  const asking = useConfirm<true>();
  const [provider, setProvider] = useState('');
  const [result, setResult] = useState<RotateResult | null>(null);
  const rotate = async () => setResult(await post<RotateResult>(orgPath(org, 'keys/rotate'), provider ? { provider } : {}));
  const active = data?.keks.find((k) => k.state === 'active');
  return (
    <section class="panel" aria-labelledby="keys-title">
      <h2 id="keys-title">Key-encryption keys</h2>
      <ErrorLine message={error} />
      {data && data.keks.length === 0 && <p>No key yet: the first secret creates version 1.</p>}
      {data && data.keks.length > 0 && (
        <DataTable
          testid="keks"
          cols={['Version', 'Provider', 'Key id', 'State', 'Created', 'Destroyed']}
          rows={data.keks}
          row={(k) => (
            <tr key={k.version}>
              <th scope="row">v{k.version}</th>
              <td>
                {k.provider} <span class="muted small">({k.providerKind})</span>
              </td>
              <td>
                <code class="small">{k.keyId}</code>
              </td>
              <td>
                <span class={`badge kek-${k.state}`}>{k.state}</span>
              </td>
              <td class="nowrap">{fmtTime(k.createdAt)}</td>
              <td class="nowrap">{fmtTime(k.destroyedAt)}</td>
            </tr>
          )}
        />
      )}
      {result && (
        <p class="notice" role="status" data-testid="rotated">
          Rotated: version {result.version} at {result.provider}; {result.rewrappedDataKeys} data key
          {result.rewrappedDataKeys === 1 ? '' : 's'} re-wrapped
          {result.destroyedVersions.length > 0 && `; version ${result.destroyedVersions.join(', ')} destroyed`}.
        </p>
      )}
      <button type="button" onClick={() => asking.ask(true)}>
        Rotate key…
      </button>
      <ConfirmDialog
        {...asking.dialog}
        title="Rotate the key-encryption key?"
        confirmLabel="Rotate"
        onConfirm={() => void asking.confirm(rotate, reload)}
      >
        <p>
          A new version is created{active ? ` (after v${active.version})` : ''}, every data key is re-wrapped under it, and the
          old version is destroyed at its provider. Jobs keep running.
        </p>
        {data && data.providers.length > 1 && (
          <p>
            <label for="rotate-provider">Provider</label>{' '}
            <select id="rotate-provider" value={provider} onChange={(e) => setProvider(e.currentTarget.value)}>
              <option value="">keep the current one{active ? ` (${active.provider})` : ''}</option>
              {data.providers.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </p>
        )}
      </ConfirmDialog>
    </section>
  );
}

function RestrictionSection({ org, admin }: { org: string; admin: boolean }) {
  const { data, error, reload } = usePoll(() => get<Restriction>(orgPath(org, 'restriction')), 10_000);
  const asking = useConfirm<true>();
  const change = (reason: string) =>
    data?.restricted ? del<Restriction>(orgPath(org, 'restriction')) : post<Restriction>(orgPath(org, 'restriction'), { reason });
  if (!data) return <ErrorLine message={error} />;
  return (
    <section
      class={`panel${data.restricted ? ' alert-panel' : ''}`}
      aria-labelledby="restr-title"
      data-testid="restriction"
      data-restricted={String(data.restricted)}
    >
      <h2 id="restr-title">Restriction of processing (GDPR Art. 18)</h2>
      <ErrorLine message={error} />
      {data.restricted ? (
        <p>
          <strong>Processing is restricted</strong> since {fmtTime(data.since)} by {data.restrictedBy}: “{data.reason}”. New jobs
          are refused, queued jobs are held
          {data.heldJobs && data.heldJobs.length > 0 && ` (${data.heldJobs.join(', ')})`}.
        </p>
      ) : (
        <p>Not restricted: jobs are scheduled normally.</p>
      )}
      {admin && (
        <button type="button" class={data.restricted ? undefined : 'danger'} onClick={() => asking.ask(true)}>
          {data.restricted ? 'Lift restriction…' : 'Restrict processing…'}
        </button>
      )}
      <ConfirmDialog
        {...asking.dialog}
        title={data.restricted ? 'Lift the restriction?' : `Restrict processing for ${org}?`}
        confirmLabel={data.restricted ? 'Lift restriction' : 'Restrict'}
        askReason={!data.restricted}
        onConfirm={(r) => void asking.confirm(() => change(r), reload)}
      >
        {data.restricted ? (
          <p>Held jobs are scheduled again.</p>
        ) : (
          <p>New submissions are refused, queued jobs are held, and running jobs are stopped and requeued. Nothing is erased.</p>
        )}
      </ConfirmDialog>
    </section>
  );
}
