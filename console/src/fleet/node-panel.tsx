/**
 * NodePanel: the selected node's details, its jobs, and its state (drain, mark down, return to
 * service) behind a confirmation, through PUT /v1/nodes/{id}/state.
 */
import { put } from '../api/client.js';
import type { FleetGpus, NodeInfo } from '../api/types.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { Link } from '../lib/router.js';
import { useConfirm } from '../lib/use-action.js';
import { nodeDetails } from './snapshot.js';

type Target = 'up' | 'draining' | 'down';

interface Props {
  snap: FleetGpus;
  offsets: Int32Array;
  node: number;
  onChanged: () => void;
  onClose: () => void;
}

export function NodePanel({ snap, offsets, node, onChanged, onClose }: Props) {
  const d = nodeDetails(snap, offsets, node);
  const asking = useConfirm<Target>();
  const target = asking.subject;
  const n = d.jobs.length;
  const running = `${n} running job${n === 1 ? '' : 's'}`;
  // GPUs held in part by fractional jobs (time-sliced shares, MIG instances): milli-GPU in use each.
  const shared: string[] = [];
  for (let g = 0; g < d.gpus; g++) {
    const milli = snap.gpuShareMilli?.[offsets[node] + g] ?? 0;
    if (milli > 0) shared.push(`GPU ${g}: ${milli} milli`);
  }
  // GPUs in MIG mode: node state that stays while they are idle (re-partitioned only when idle).
  const mig: number[] = [];
  for (let g = 0; g < d.gpus; g++) if (snap.gpuMig?.[offsets[node] + g] === 1) mig.push(g);

  const confirm = (reason: string) =>
    asking.confirm(
      (state) => put<NodeInfo>(`/v1/nodes/${encodeURIComponent(d.id)}/state`, reason ? { state, reason } : { state }),
      onChanged,
    );

  return (
    <section class="panel node-panel" aria-labelledby="node-title">
      <div class="panel-head">
        <h2 id="node-title">{d.id}</h2>
        <button type="button" class="link" onClick={onClose} aria-label="Close node details">
          ✕
        </button>
      </div>
      <dl class="facts">
        <dt>State</dt>
        <dd data-testid="node-state">{d.state}</dd>
        <dt>Site</dt>
        <dd>{d.site}</dd>
        <dt>Scalable unit</dt>
        <dd>{d.unit}</dd>
        <dt>Node type</dt>
        <dd>{d.nodeType}</dd>
        <dt>GPU type</dt>
        <dd>{d.gpuType}</dd>
        <dt>GPUs allocated</dt>
        <dd>
          {d.allocated} of {d.gpus}
        </dd>
        {shared.length > 0 && (
          <>
            <dt>Shared GPUs</dt>
            <dd data-testid="node-shared">{shared.join(', ')}</dd>
          </>
        )}
        {mig.length > 0 && (
          <>
            <dt>MIG mode</dt>
            <dd data-testid="node-mig">GPU {mig.join(', ')}</dd>
          </>
        )}
      </dl>
      <h3>Jobs on this node</h3>
      {d.jobs.length === 0 ? (
        <p>None.</p>
      ) : (
        <ul class="plain">
          {d.jobs.map((j) => (
            <li key={j.id}>
              <Link href={`/jobs/${j.id}`}>job {j.id}</Link> · {j.org ?? 'starting'} · GPU{j.gpus.length === 1 ? '' : 's'}{' '}
              {j.gpus.join(', ')}
            </li>
          ))}
        </ul>
      )}
      <div class="actions-row">
        {d.state === 'up' && (
          <button type="button" onClick={() => asking.ask('draining')}>
            Drain node…
          </button>
        )}
        {d.state !== 'up' && (
          <button type="button" onClick={() => asking.ask('up')}>
            Return to service…
          </button>
        )}
        {d.state !== 'down' && (
          <button type="button" class="danger" onClick={() => asking.ask('down')}>
            Mark down…
          </button>
        )}
      </div>
      <ConfirmDialog
        {...asking.dialog}
        title={target === 'draining' ? `Drain ${d.id}?` : target === 'down' ? `Mark ${d.id} down?` : `Return ${d.id} to service?`}
        confirmLabel={target === 'draining' ? 'Drain' : target === 'down' ? 'Mark down' : 'Return to service'}
        askReason
        onConfirm={(r) => void confirm(r)}
      >
        {target === 'draining' && (
          <p>
            The scheduler stops placing new work on this node. The {running} finish normally. The change is recorded in the audit
            log.
          </p>
        )}
        {target === 'down' && (
          <p>
            The {running} on this node are stopped at once, then requeued or failed as each job's onNodeFailure asks (a gang as a
            whole). Nothing new is placed on it. The change is recorded in the audit log.
          </p>
        )}
        {target === 'up' && <p>The node becomes schedulable again. The change is recorded in the audit log.</p>}
      </ConfirmDialog>
    </section>
  );
}
