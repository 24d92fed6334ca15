/**
 * Operator: ask a tenant's consent to read one job's withheld data (its spec, its logs). Shown on a
 * job's page when the API withheld something; the request goes to the organisation's admins, who
 * decide in their "Access" view. The API validates everything; its problem sentence is shown.
 */
import { useState } from 'preact/hooks';
import { post } from '../api/client.js';
import type { AccessRequest, AccessRequestCreate } from '../api/sovereignty-types.js';
import { ErrorLine } from '../components/error-line.js';
import { Form, SelectField, SubmitRow, TextField } from '../components/field.js';
import { fmtTime } from '../lib/format.js';
import { Link } from '../lib/router.js';
import { useAction } from '../lib/use-action.js';

const REASONS: AccessRequestCreate['reasonCode'][] = ['customer-support', 'incident', 'maintenance', 'legal-request'];
type Verb = AccessRequestCreate['scope']['verbs'][number];

export function AccessRequestForm({ org, jobId, verbs }: { org: string; jobId: string; verbs: Verb[] }) {
  const [open, setOpen] = useState(false);
  const [cause, setCause] = useState('');
  const [reasonCode, setReasonCode] = useState<AccessRequestCreate['reasonCode']>('customer-support');
  const [want, setWant] = useState<Verb[]>(verbs);
  const [hours, setHours] = useState('2');
  const [country, setCountry] = useState('DE');
  const [retention, setRetention] = useState('30');
  const [deadlineHours, setDeadlineHours] = useState('8');
  const { busy, error, run } = useAction();
  const [filed, setFiled] = useState<AccessRequest | null>(null);

  if (filed) {
    return (
      <p class="notice" role="status" data-testid="access-filed">
        Request <code>{filed.id}</code> filed: {filed.state}, waiting for an admin of {filed.org} to decide by{' '}
        {fmtTime(filed.approvalDeadline)}. Follow it under <Link href="/access">Access</Link>; reload this page once it is
        approved.
      </p>
    );
  }
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Request access from {org}…
      </button>
    );
  }
  const submit = async () => {
    await run(async () => {
      const body: AccessRequestCreate = {
        org,
        cause,
        reasonCode,
        scope: { objects: [`job:${jobId}`], verbs: want },
        durationSeconds: Math.round(Number(hours) * 3600),
        requesterCountry: country.trim().toUpperCase(),
        derivedDataRetentionDays: Number(retention),
        approvalDeadline: new Date(Date.now() + Number(deadlineHours) * 3_600_000).toISOString(),
      };
      setFiled(await post<AccessRequest>('/v1/access-requests', body));
    });
  };
  const toggle = (v: Verb) => setWant(want.includes(v) ? want.filter((x) => x !== v) : [...want, v]);
  return (
    <Form id="acr-form-title" title={`Request access to job ${jobId}`} kind="access-form" onSubmit={submit}>
      <div class="field wide">
        <label for="acr-cause">Cause (shown to the tenant's admins)</label>
        <textarea id="acr-cause" rows={2} value={cause} onInput={(e) => setCause(e.currentTarget.value)} />
      </div>
      <SelectField
        id="acr-reason"
        label="Reason code"
        value={reasonCode}
        options={REASONS}
        onValue={(v) => setReasonCode(v as AccessRequestCreate['reasonCode'])}
      />
      <fieldset>
        <legend>Access to</legend>
        {(['read-spec', 'read-logs'] as const).map((v) => (
          <label key={v} class="inline">
            <input type="checkbox" checked={want.includes(v)} onChange={() => toggle(v)} />{' '}
            {v === 'read-spec' ? 'the job spec (read-spec)' : 'the logs (read-logs)'}
          </label>
        ))}
      </fieldset>
      <TextField
        id="acr-hours"
        label="Duration once approved (hours)"
        type="number"
        min="0.1"
        step="0.5"
        value={hours}
        onValue={setHours}
      />
      <TextField id="acr-country" label="Country you access from (ISO code)" value={country} maxLength={2} onValue={setCountry} />
      <TextField
        id="acr-retention"
        label="Days derived copies are kept"
        type="number"
        min="0"
        value={retention}
        onValue={setRetention}
      />
      <TextField
        id="acr-deadline"
        label="Tenant must answer within (hours)"
        type="number"
        min="1"
        value={deadlineHours}
        onValue={setDeadlineHours}
      />
      <ErrorLine message={error} />
      <SubmitRow label="File request" busy={busy}>
        <button type="button" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </SubmitRow>
    </Form>
  );
}
