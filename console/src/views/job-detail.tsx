/**
 * One job: state, why it waits, placement, and its timeline followed live over the job's SSE
 * stream (/v1/jobs/{id}/events/stream). The job itself is re-read on every event, and every 3 s
 * while queued because its pending reason changes without events. A queued job also shows the
 * scheduler's explanation (position, expected start, blockers, what would start it now, priority);
 * every job shows its output (followed live while it runs).
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api/client.js';
import { followJobEvents } from '../api/job-events.js';
import type { Job, JobEvent } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { ErrorLine } from '../components/error-line.js';
import { StateBadge } from '../components/state-badge.js';
import { fmtDuration, fmtTime } from '../lib/format.js';
import { isTerminal } from '../lib/job-states.js';
import { Link } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';
import { AccessRequestForm } from './access-request-form.js';
import { JobExplanationView } from './job-explain.js';
import { JobLogsPanel, type LogPhase } from './job-logs-panel.js';
import { JobResidencyPanel } from './job-residency.js';

export function JobDetailView({ id }: { id: string }) {
  const me = useMe();
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [streamError, setStreamError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const { data: job, error, reload } = usePoll(() => get<Job>(`/v1/jobs/${encodeURIComponent(id)}`), 3000, [id, version]);

  useEffect(() => {
    setEvents([]);
    return followJobEvents(id, {
      onEvent: (e) => {
        setStreamError(null);
        setEvents((es) => (es.some((x) => x.id === e.id) ? es : [...es, e]));
        setVersion((v) => v + 1);
      },
      onEnd: () => setVersion((v) => v + 1),
      onError: (m) => setStreamError(`live updates interrupted (${m}); retrying`),
    });
  }, [id]);

  if (!job) {
    return (
      <>
        <h1>Job {id}</h1>
        <ErrorLine message={error} />
        {!error && <p aria-busy="true">Loading…</p>}
        <Link href="/jobs">Back to jobs</Link>
      </>
    );
  }
  const terminal = isTerminal(job.state);
  const canCancel = !terminal && me.role !== 'viewer';
  const gpus = job.spec.nodes * job.spec.gpusPerNode;
  const logPhase: LogPhase =
    job.state === 'queued' ? 'waiting' : !terminal ? 'live' : job.startedAt || job.placement ? 'done' : 'never';
  // The image-pull phase of the current attempt, as its last event says it (pulling …, pulled … (N bytes)).
  const pull = events.filter((e) => e.type === 'image-pull').at(-1);
  const pulled = pull ? pull.message : null;
  const ran = job.startedAt && job.finishedAt ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000 : Number.NaN;

  return (
    <>
      <h1>
        Job {job.id}: {job.name}
      </h1>
      <p>
        <Link href="/jobs">← All jobs</Link>
      </p>
      <ErrorLine message={error} />
      <div class="detail-grid">
        <section class="panel" aria-labelledby="job-summary">
          <h2 id="job-summary">Summary</h2>
          <dl class="facts">
            <dt>State</dt>
            <dd data-testid="job-state" data-state={job.state}>
              <StateBadge state={job.state} />
              {job.exitCode !== null && ` (exit code ${job.exitCode})`}
            </dd>
            <dt>Organisation / project</dt>
            <dd>
              {job.org} / {job.project}
            </dd>
            <dt>Asks for</dt>
            <dd>
              {job.spec.nodes} node{job.spec.nodes === 1 ? '' : 's'} × {job.spec.gpusPerNode} {job.spec.gpuType} ({gpus} GPUs),{' '}
              {job.spec.priorityClass} priority
            </dd>
            {job.spec.image && (
              <>
                <dt>Image</dt>
                <dd data-testid="job-image">
                  <code>{job.spec.image}</code>
                  {pulled && <span class="muted"> ({pulled})</span>}
                </dd>
              </>
            )}
            <dt>Submitted</dt>
            <dd>
              {fmtTime(job.createdAt)} by {job.submittedBy}
            </dd>
            <dt>Started</dt>
            <dd>{fmtTime(job.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>
              {fmtTime(job.finishedAt)}
              {Number.isFinite(ran) && ` (ran ${fmtDuration(ran)})`}
            </dd>
          </dl>
          {job.state === 'queued' && (
            <div class="why" data-testid="pending-reason">
              <h3>Why it waits</h3>
              <p>{job.pendingReason?.message ?? 'Waiting for the next scheduling cycle.'}</p>
              {job.pendingReason && (
                <p class="muted">
                  reason code <code>{job.pendingReason.code}</code>
                  {job.reasonCycle && <span data-testid="reason-cycle">, from scheduling cycle {job.reasonCycle.number}</span>}
                </p>
              )}
              <JobExplanationView id={job.id} />
            </div>
          )}
          {canCancel && <CancelButton job={job} onDone={reload} />}
        </section>
        <section class="panel" aria-labelledby="job-placement">
          <h2 id="job-placement">Placement</h2>
          {job.placement ? (
            <>
              <p data-testid="placement">
                Site <strong>{job.placement.site}</strong>, {job.placement.gpuType}
              </p>
              <ul class="plain">
                {job.placement.nodes.map((n) => (
                  <li key={n.node}>
                    {n.node}: GPU{n.gpus.length === 1 ? '' : 's'} {n.gpus.join(', ')}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p>Not placed{terminal ? '.' : ' yet.'}</p>
          )}
        </section>
      </div>
      {job.redacted && job.redacted.length > 0 && (
        <section class="panel withheld" aria-labelledby="job-withheld" data-testid="job-withheld">
          <h2 id="job-withheld">Tenant data withheld</h2>
          <p>
            Without the consent of {job.org}, operators see this job's operational metadata only. Withheld:{' '}
            {job.redacted.map((f) => (
              <span key={f}>
                <code>{f}</code>,{' '}
              </span>
            ))}
            and the logs.
          </p>
          {me.role === 'operator' && <AccessRequestForm org={job.org} jobId={job.id} verbs={['read-spec', 'read-logs']} />}
        </section>
      )}
      <JobLogsPanel id={job.id} phase={logPhase} />
      <JobResidencyPanel id={job.id} version={job.state} />
      <section class="panel" aria-labelledby="job-timeline">
        <h2 id="job-timeline">Timeline</h2>
        <ErrorLine message={streamError} />
        <ol class="timeline" data-testid="timeline" aria-live="polite">
          {events.map((e) => (
            <li key={e.id} data-type={e.type}>
              <span class={`tl-type t-${e.type}`}>{e.type}</span> <time dateTime={e.at}>{fmtTime(e.at)}</time>
              <div>{e.message}</div>
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}

function CancelButton({ job, onDone }: { job: Job; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const cancel = async () => {
    setBusy(true);
    try {
      await post<Job>(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`);
      setOpen(false);
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class="danger" onClick={() => setOpen(true)}>
        Cancel job…
      </button>
      <ConfirmDialog
        open={open}
        title={`Cancel job ${job.id}?`}
        confirmLabel="Cancel job"
        cancelLabel="Keep it"
        busy={busy}
        error={error}
        onConfirm={() => void cancel()}
        onCancel={() => setOpen(false)}
      >
        <p>
          {job.state === 'queued'
            ? 'The job leaves the queue at once.'
            : 'The job is signalled to stop and is killed after its grace period.'}
        </p>
      </ConfirmDialog>
    </>
  );
}
