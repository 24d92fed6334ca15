/** OutOfService: nodes that are draining or down, as a list the keyboard can reach without the map. */
import type { FleetGpus } from '../api/types.js';

export function OutOfService({ snap, onSelect }: { snap: FleetGpus; onSelect: (id: string) => void }) {
  const out: { id: string; state: string }[] = [];
  for (let i = 0; i < snap.nodes.id.length; i++) {
    const state = snap.nodeStates[snap.nodes.state[i]];
    if (state !== 'up') out.push({ id: snap.nodes.id[i], state });
  }
  return (
    <section aria-labelledby="oos-title">
      <h2 id="oos-title">Nodes out of service ({out.length})</h2>
      {out.length === 0 ? (
        <p>All nodes are up.</p>
      ) : (
        <ul class="plain" data-testid="out-of-service">
          {out.slice(0, 200).map((n) => (
            <li key={n.id}>
              <button type="button" class="link" onClick={() => onSelect(n.id)}>
                {n.id}
              </button>{' '}
              {n.state}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
