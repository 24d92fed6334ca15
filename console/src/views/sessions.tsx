/**
 * "Sessions": the running and queued interactive sessions the signed-in user may see, with time left
 * and idle time (refreshed every few seconds). Open asks the API for a one-time link and opens it in
 * a new tab (the link sets a cookie for that session's host only); Stop asks first.
 */
import { get, post } from '../api/client.js';
import type { SessionItem } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtDuration } from '../lib/format.js';
import { useAction, useConfirm } from '../lib/use-action.js';
import { usePoll } from '../lib/use-poll.js';

const dur = (s: number | null) => (s === null ? '–' : fmtDuration(s));

export function SessionsView() {
  const me = useMe();
  const { data, error, reload } = usePoll(() => get<{ items: SessionItem[] }>('/v1/sessions'), 5_000);
  const stopping = useConfirm<SessionItem>();
  const opening = useAction();
  const mayUse = me.role === 'admin' || me.role === 'member';
  const open = (s: SessionItem) => {
    // A tab opened now, during the click, is not a pop-up to block; it goes to the link once it came.
    const tab = window.open('about:blank', '_blank');
    void opening.run(async () => {
      try {
        const link = await post<{ url: string }>(`/v1/sessions/${encodeURIComponent(s.jobId)}/open`);
        if (tab) tab.location.href = link.url;
        else window.location.assign(link.url);
      } catch (err) {
        tab?.close();
        throw err;
      }
    });
  };
  return (
    <>
      <h1>Sessions</h1>
      <p class="muted">
        Interactive sessions (Jupyter, web apps) run as jobs of kind <code>session</code>; submit one with{' '}
        <code>gigafab job submit -f notebook.yaml</code>. Each opens on its own host through the workload proxy.
      </p>
      <section class="panel" aria-labelledby="sess-title">
        <h2 id="sess-title">Running and queued</h2>
        <ErrorLine message={error ?? opening.error} />
        {data && data.items.length === 0 && <p>No sessions.</p>}
        {data && data.items.length > 0 && (
          <DataTable
            testid="sessions"
            cols={['Id', 'Name', 'Project', 'Preset', 'State', 'Time left', 'Idle', 'Idle limit', 'Kept in', 'Actions']}
            rows={data.items}
            row={(s) => (
              <tr key={s.jobId} data-session={s.jobId}>
                <th scope="row">
                  <a href={`/jobs/${encodeURIComponent(s.jobId)}`}>
                    <code>{s.jobId}</code>
                  </a>
                </th>
                <td>{s.name ?? '–'}</td>
                <td>{s.project}</td>
                <td>{s.preset}</td>
                <td data-state={s.state}>{s.state === 'running' && !s.ready ? 'starting' : s.state}</td>
                <td data-testid="time-left">{dur(s.timeLeftSeconds)}</td>
                <td data-testid="idle">{dur(s.idleSeconds)}</td>
                <td>{s.idleTimeoutMinutes === null ? '–' : `${s.idleTimeoutMinutes} min`}</td>
                <td data-testid="kept-in" title="where the session keeps its work (its working directory)">
                  {s.stateDataset ? <code>{s.stateDataset}</code> : 'scratch (gone with it)'}
                </td>
                <td>
                  {mayUse && (
                    <>
                      {s.preset === 'ssh' ? (
                        // An ssh session has no page: it is reached with ssh through the proxy's tunnel.
                        <code title="run this in a terminal">gigafab session ssh {s.jobId}</code>
                      ) : (
                        <button type="button" disabled={opening.busy || s.state !== 'running'} onClick={() => open(s)}>
                          Open
                        </button>
                      )}{' '}
                      <button type="button" class="danger" onClick={() => stopping.ask(s)}>
                        Stop…
                      </button>
                    </>
                  )}
                </td>
              </tr>
            )}
          />
        )}
        <ConfirmDialog
          {...stopping.dialog}
          title={`Stop session ${stopping.subject?.jobId ?? ''}?`}
          confirmLabel="Stop session"
          onConfirm={() => void stopping.confirm((s) => post(`/v1/jobs/${encodeURIComponent(s.jobId)}/cancel`), reload)}
        >
          <p>Its processes get a grace period, then end; the session's scratch files go with it.</p>
        </ConfirmDialog>
      </section>
    </>
  );
}
