/**
 * Operator view "Reservations and maintenance": advance reservations of GPUs for an organisation
 * (with where the scheduler holds each now) and maintenance windows of nodes or sites; create and
 * delete both. The API checks shape, capacity and times; its problem sentence is shown as is.
 */
import { useState } from 'preact/hooks';
import { del, get, post } from '../api/client.js';
import type { MaintenanceCreate, MaintenanceWindowView, Reservation, ReservationCreate } from '../api/sovereignty-types.js';
import type { FleetSummary, Org, Page } from '../api/types.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { Form, SelectField, SubmitRow, TextField } from '../components/field.js';
import { fmtTime } from '../lib/format.js';
import { useAction, useConfirm } from '../lib/use-action.js';
import { usePoll } from '../lib/use-poll.js';

interface Items<T> {
  items: T[];
}

/** A datetime-local value (local time, no zone) as an ISO instant; empty or unreadable stays as typed for the API to refuse. */
const instant = (local: string): string => {
  const t = Date.parse(local);
  return Number.isFinite(t) ? new Date(t).toISOString() : local;
};

/** The datetime-local value for a time `ms` from now, in local time. */
const localIn = (ms: number): string => {
  const d = new Date(Date.now() + ms);
  d.setSeconds(0, 0);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

/** A window's start and end, in local time, as the fields `${prefix}-start` and `${prefix}-end`. */
function Period(p: { prefix: string; start: string; end: string; onStart: (v: string) => void; onEnd: (v: string) => void }) {
  return (
    <>
      <TextField id={`${p.prefix}-start`} label="Start" type="datetime-local" value={p.start} onValue={p.onStart} />
      <TextField id={`${p.prefix}-end`} label="End" type="datetime-local" value={p.end} onValue={p.onEnd} />
    </>
  );
}

export function ReservationsView() {
  const { data, error, reload } = usePoll(async () => {
    const [reservations, windows] = await Promise.all([
      get<Items<Reservation>>('/v1/reservations'),
      get<Items<MaintenanceWindowView>>('/v1/maintenance-windows'),
    ]);
    return { reservations: reservations.items, windows: windows.items };
  }, 10_000);
  const { data: choices } = usePoll(async () => {
    const [orgs, fleet] = await Promise.all([get<Page<Org>>('/v1/orgs'), get<FleetSummary>('/v1/fleet')]);
    return { orgs: orgs.items, gpuTypes: fleet.gpuTypes, sites: fleet.sites.map((s) => s.id) };
  }, 0);
  const deleting = useConfirm<{ kind: 'reservation' | 'maintenance'; id: string }>();
  const subject = deleting.subject;
  const remove = ({ kind, id }: { kind: 'reservation' | 'maintenance'; id: string }) =>
    del(
      kind === 'reservation' ? `/v1/reservations/${encodeURIComponent(id)}` : `/v1/maintenance-windows/${encodeURIComponent(id)}`,
    );

  return (
    <>
      <h1>Reservations and maintenance</h1>
      <ErrorLine message={error} />
      <section class="panel" aria-labelledby="rsv-title">
        <h2 id="rsv-title">Advance reservations</h2>
        <p class="muted small">
          During the window only the organisation's jobs use the reserved GPUs; before it, other jobs use them only if their
          wall-clock limit ends by the start. Re-placed every scheduling cycle.
        </p>
        {data && data.reservations.length === 0 && <p>No reservations.</p>}
        {data && data.reservations.length > 0 && (
          <DataTable
            testid="reservations"
            cols={['Reservation', 'For', 'GPUs', 'Window', 'Held now', 'Actions']}
            rows={data.reservations}
            row={(r) => (
              <tr key={r.id} data-reservation={r.id}>
                <th scope="row">
                  <code>{r.id}</code>
                  {r.note && <div class="muted small">{r.note}</div>}
                </th>
                <td>{r.org}</td>
                <td>
                  {r.gpus} × {r.gpuType}
                  {r.site ? ` in ${r.site}` : ''}
                  <div class="muted small">
                    {r.nodes} node{r.nodes === 1 ? '' : 's'} × {r.gpusPerNode}
                  </div>
                </td>
                <td class="nowrap">
                  {fmtTime(r.start)} – {fmtTime(r.end)}
                  <div>
                    <span class={`badge rsv-${r.status}`}>{r.status}</span>
                  </div>
                </td>
                <td class="small">
                  {r.held ? `${r.held.site}: ${r.held.nodes.join(', ')}` : r.status === 'ended' ? '–' : 'not placeable now'}
                </td>
                <td>
                  <button type="button" class="danger" onClick={() => deleting.ask({ kind: 'reservation', id: r.id })}>
                    Delete…
                  </button>
                </td>
              </tr>
            )}
          />
        )}
        <ReservationForm
          orgs={choices?.orgs ?? []}
          gpuTypes={choices?.gpuTypes ?? []}
          sites={choices?.sites ?? []}
          onDone={reload}
        />
      </section>
      <section class="panel" aria-labelledby="mw-title">
        <h2 id="mw-title">Maintenance windows</h2>
        <p class="muted small">
          Nothing starts on the nodes during the window, and no job whose limit would reach into it. Running jobs are not touched
          (drain or mark the nodes down on the fleet map for that).
        </p>
        {data && data.windows.length === 0 && <p>No maintenance windows.</p>}
        {data && data.windows.length > 0 && (
          <DataTable
            testid="maintenance-windows"
            cols={['Window', 'Where', 'When', 'Reason', 'Actions']}
            rows={data.windows}
            row={(w) => (
              <tr key={w.id} data-window={w.id}>
                <th scope="row">
                  <code>{w.id}</code>
                </th>
                <td>
                  {w.site ? `site ${w.site}` : ''}
                  <div class="small">
                    {w.nodes.length} node{w.nodes.length === 1 ? '' : 's'}
                    {w.nodes.length <= 4 ? `: ${w.nodes.join(', ')}` : ''}
                  </div>
                </td>
                <td class="nowrap">
                  {fmtTime(w.start)} – {fmtTime(w.end)}
                </td>
                <td>
                  {w.reason} <span class="muted small">by {w.createdBy}</span>
                </td>
                <td>
                  <button type="button" class="danger" onClick={() => deleting.ask({ kind: 'maintenance', id: w.id })}>
                    Cancel…
                  </button>
                </td>
              </tr>
            )}
          />
        )}
        <MaintenanceForm sites={choices?.sites ?? []} onDone={reload} />
      </section>
      <ConfirmDialog
        {...deleting.dialog}
        title={subject?.kind === 'reservation' ? `Delete reservation ${subject.id}?` : `Cancel maintenance ${subject?.id}?`}
        confirmLabel={subject?.kind === 'reservation' ? 'Delete reservation' : 'Cancel maintenance'}
        cancelLabel="Keep it"
        onConfirm={() => void deleting.confirm(remove, reload)}
      >
        <p>
          {subject?.kind === 'reservation'
            ? 'The GPUs go back to everyone at the next scheduling cycle.'
            : 'The nodes take work again at the next scheduling cycle.'}
        </p>
      </ConfirmDialog>
    </>
  );
}

function ReservationForm({
  orgs,
  gpuTypes,
  sites,
  onDone,
}: {
  orgs: Org[];
  gpuTypes: string[];
  sites: string[];
  onDone: () => void;
}) {
  const [org, setOrg] = useState('');
  const [gpuType, setGpuType] = useState('');
  const [gpus, setGpus] = useState('8');
  const [site, setSite] = useState('');
  const [start, setStart] = useState(() => localIn(3_600_000));
  const [end, setEnd] = useState(() => localIn(25 * 3_600_000));
  const [note, setNote] = useState('');
  const { busy, error, run } = useAction();
  const [done, setDone] = useState<string | null>(null);
  const submit = async () => {
    setDone(null);
    await run(async () => {
      const body: ReservationCreate = {
        org: org || orgs[0]?.id || '',
        gpuType: gpuType || gpuTypes[0] || '',
        gpus: Number(gpus),
        ...(site ? { site } : {}),
        start: instant(start),
        end: instant(end),
        ...(note.trim() ? { note: note.trim() } : {}),
      };
      const r = await post<Reservation>('/v1/reservations', body);
      setDone(`Reservation ${r.id} created: ${r.gpus} × ${r.gpuType} for ${r.org}.`);
      onDone();
    });
  };
  return (
    <Form id="rsv-new" title="New reservation" kind="inline-form" onSubmit={submit}>
      <SelectField
        id="rsv-org"
        label="Organisation"
        value={org || orgs[0]?.id}
        options={orgs.map((o) => o.id)}
        onValue={setOrg}
      />
      <SelectField id="rsv-type" label="GPU type" value={gpuType || gpuTypes[0]} options={gpuTypes} onValue={setGpuType} />
      <TextField id="rsv-gpus" label="GPUs" type="number" min="1" value={gpus} onValue={setGpus} />
      <SelectField id="rsv-site" label="Site" value={site} options={sites} onValue={setSite} blank="any one site" />
      <Period prefix="rsv" start={start} end={end} onStart={setStart} onEnd={setEnd} />
      <TextField id="rsv-note" label="Note" value={note} onValue={setNote} />
      <ErrorLine message={error} />
      {done && (
        <p class="notice" role="status">
          {done}
        </p>
      )}
      <SubmitRow label="Reserve" busy={busy} />
    </Form>
  );
}

function MaintenanceForm({ sites, onDone }: { sites: string[]; onDone: () => void }) {
  const [site, setSite] = useState('');
  const [nodes, setNodes] = useState('');
  const [start, setStart] = useState(() => localIn(2 * 86_400_000));
  const [end, setEnd] = useState(() => localIn(2 * 86_400_000 + 6 * 3_600_000));
  const [reason, setReason] = useState('');
  const { busy, error, run } = useAction();
  const submit = async () => {
    await run(async () => {
      const list = nodes
        .split(/[\s,]+/)
        .map((n) => n.trim())
        .filter(Boolean);
      const body: MaintenanceCreate = {
        ...(site ? { site } : {}),
        ...(list.length ? { nodes: list } : {}),
        start: instant(start),
        end: instant(end),
        reason,
      };
      await post<MaintenanceWindowView>('/v1/maintenance-windows', body);
      setReason('');
      setNodes('');
      onDone();
    });
  };
  return (
    <Form id="mw-new" title="New maintenance window" kind="inline-form" onSubmit={submit}>
      <SelectField id="mw-site" label="Site" value={site} options={sites} onValue={setSite} blank="(the nodes below)" />
      <TextField id="mw-nodes" label="Nodes" value={nodes} placeholder="muc1-b200-0001, muc1-b200-0002" onValue={setNodes} />
      <Period prefix="mw" start={start} end={end} onStart={setStart} onEnd={setEnd} />
      <TextField id="mw-reason" label="Reason" value={reason} onValue={setReason} />
      <ErrorLine message={error} />
      <SubmitRow label="Schedule maintenance" busy={busy} />
    </Form>
  );
}
