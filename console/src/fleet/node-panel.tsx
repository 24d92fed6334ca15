/** NodePanel: the selected node's details, its jobs, and drain / return-to-service behind a confirmation. */
import { useState } from 'preact/hooks';
import { ApiError, post } from '../api/client.js';
import type { FleetGpus, NodeInfo } from '../api/types.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { Link } from '../lib/router.js';
import { nodeDetails } from './snapshot.js';

interface Props {
  snap: FleetGpus;
  offsets: Int32Array;
  node: number;
  onChanged: () => void;
  onClose: () => void;
}

export function NodePanel({ snap, offsets, node, onChanged, onClose }: Props) {
  const d = nodeDetails(snap, offsets, node);
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const action = d.state === 'up' ? 'drain' : 'undrain';

  const confirm = async (reason: string) => {
    setBusy(true);
    setError(null);
    try {
      await post<NodeInfo>(`/v1/nodes/${encodeURIComponent(d.id)}/${action}`, reason ? { reason } : {});
      setAsking(false);
      onChanged();
    } catch (err) {
      setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

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
      <button type="button" onClick={() => setAsking(true)}>
        {action === 'drain' ? 'Drain node…' : 'Return to service…'}
      </button>
      <ConfirmDialog
        open={asking}
        title={action === 'drain' ? `Drain ${d.id}?` : `Return ${d.id} to service?`}
        confirmLabel={action === 'drain' ? 'Drain' : 'Return to service'}
        askReason
        busy={busy}
        error={error}
        onConfirm={(r) => void confirm(r)}
        onCancel={() => {
          setAsking(false);
          setError(null);
        }}
      >
        {action === 'drain' ? (
          <p>
            The scheduler stops placing new work on this node. The {d.jobs.length} running job{d.jobs.length === 1 ? '' : 's'}{' '}
            finish normally. The change is recorded in the audit log.
          </p>
        ) : (
          <p>The node becomes schedulable again. The change is recorded in the audit log.</p>
        )}
      </ConfirmDialog>
    </section>
  );
}
