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
import { ErrorLine } from '../components/error-line.js';
import { fmtTime } from '../lib/format.js';
import { problemText } from '../lib/problem.js';
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
  const [deleting, setDeleting] = useState<{ kind: 'reservation' | 'maintenance'; id: string } | null>(null);
  const [delError, setDelError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const remove = async () => {
    if (!deleting) return;
    setBusy(true);
    try {
      await del(
        deleting.kind === 'reservation'
          ? `/v1/reservations/${encodeURIComponent(deleting.id)}`
          : `/v1/maintenance-windows/${encodeURIComponent(deleting.id)}`,
      );
      setDeleting(null);
      reload();
    } catch (err) {
      setDelError(problemText(err));
    } finally {
      setBusy(false);
    }
  };

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
          <table class="data" data-testid="reservations">
            <thead>
              <tr>
                <th scope="col">Reservation</th>
                <th scope="col">For</th>
                <th scope="col">GPUs</th>
                <th scope="col">Window</th>
                <th scope="col">Held now</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {data.reservations.map((r) => (
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
                    <button type="button" class="danger" onClick={() => setDeleting({ kind: 'reservation', id: r.id })}>
                      Delete…
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
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
          <table class="data" data-testid="maintenance-windows">
            <thead>
              <tr>
                <th scope="col">Window</th>
                <th scope="col">Where</th>
                <th scope="col">When</th>
                <th scope="col">Reason</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {data.windows.map((w) => (
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
                    <button type="button" class="danger" onClick={() => setDeleting({ kind: 'maintenance', id: w.id })}>
                      Cancel…
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <MaintenanceForm sites={choices?.sites ?? []} onDone={reload} />
      </section>
      <ConfirmDialog
        open={deleting !== null}
        title={deleting?.kind === 'reservation' ? `Delete reservation ${deleting.id}?` : `Cancel maintenance ${deleting?.id}?`}
        confirmLabel={deleting?.kind === 'reservation' ? 'Delete reservation' : 'Cancel maintenance'}
        cancelLabel="Keep it"
        busy={busy}
        error={delError}
        onConfirm={() => void remove()}
        onCancel={() => {
          setDeleting(null);
          setDelError(null);
        }}
      >
        <p>
          {deleting?.kind === 'reservation'
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
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
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
    } catch (err) {
      setError(problemText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form inline-form" noValidate onSubmit={(e) => void submit(e)} aria-labelledby="rsv-new">
      <h3 id="rsv-new">New reservation</h3>
      <div class="field">
        <label for="rsv-org">Organisation</label>
        <select id="rsv-org" value={org || orgs[0]?.id} onChange={(e) => setOrg(e.currentTarget.value)}>
          {orgs.map((o) => (
            <option key={o.id} value={o.id}>
              {o.id}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="rsv-type">GPU type</label>
        <select id="rsv-type" value={gpuType || gpuTypes[0]} onChange={(e) => setGpuType(e.currentTarget.value)}>
          {gpuTypes.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="rsv-gpus">GPUs</label>
        <input id="rsv-gpus" type="number" min="1" value={gpus} onInput={(e) => setGpus(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="rsv-site">Site</label>
        <select id="rsv-site" value={site} onChange={(e) => setSite(e.currentTarget.value)}>
          <option value="">any one site</option>
          {sites.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="rsv-start">Start</label>
        <input id="rsv-start" type="datetime-local" value={start} onInput={(e) => setStart(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="rsv-end">End</label>
        <input id="rsv-end" type="datetime-local" value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="rsv-note">Note</label>
        <input id="rsv-note" value={note} onInput={(e) => setNote(e.currentTarget.value)} />
      </div>
      <ErrorLine message={error} />
      {done && (
        <p class="notice" role="status">
          {done}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Reserve
        </button>
      </div>
    </form>
  );
}

function MaintenanceForm({ sites, onDone }: { sites: string[]; onDone: () => void }) {
  const [site, setSite] = useState('');
  const [nodes, setNodes] = useState('');
  const [start, setStart] = useState(() => localIn(2 * 86_400_000));
  const [end, setEnd] = useState(() => localIn(2 * 86_400_000 + 6 * 3_600_000));
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
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
    } catch (err) {
      setError(problemText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form inline-form" noValidate onSubmit={(e) => void submit(e)} aria-labelledby="mw-new">
      <h3 id="mw-new">New maintenance window</h3>
      <div class="field">
        <label for="mw-site">Site</label>
        <select id="mw-site" value={site} onChange={(e) => setSite(e.currentTarget.value)}>
          <option value="">(the nodes below)</option>
          {sites.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="mw-nodes">Nodes</label>
        <input
          id="mw-nodes"
          value={nodes}
          placeholder="muc1-b200-0001, muc1-b200-0002"
          onInput={(e) => setNodes(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="mw-start">Start</label>
        <input id="mw-start" type="datetime-local" value={start} onInput={(e) => setStart(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="mw-end">End</label>
        <input id="mw-end" type="datetime-local" value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="mw-reason">Reason</label>
        <input id="mw-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </div>
      <ErrorLine message={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Schedule maintenance
        </button>
      </div>
    </form>
  );
}
