/**
 * Operator view: the fleet map with its filters (site, GPU type), colouring (state or tenant),
 * legend, node details and the list of nodes out of service. Polls /v1/fleet/gpus every 5 s.
 */
import { useMemo, useState } from 'preact/hooks';
import { get } from '../api/client.js';
import type { FleetGpus } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtInt } from '../lib/format.js';
import { usePoll } from '../lib/use-poll.js';
import type { ColourMode, LegendEntry } from './colours.js';
import { FleetMap } from './fleet-map.js';
import { MapLegend } from './legend.js';
import { NodePanel } from './node-panel.js';
import { OutOfService } from './out-of-service.js';
import { gpuOffsets } from './snapshot.js';

export function FleetView() {
  const { data: snap, error, reload } = usePoll(() => get<FleetGpus>('/v1/fleet/gpus'), 5000);
  const [mode, setMode] = useState<ColourMode>('state');
  const [site, setSite] = useState<string | null>(null);
  const [gpuType, setGpuType] = useState<string | null>(null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [legend, setLegend] = useState<LegendEntry[]>([]);
  const filter = useMemo(() => ({ site, gpuType }), [site, gpuType]);
  const offsets = useMemo(() => (snap ? gpuOffsets(snap) : null), [snap]);
  const selected = snap && selectedId ? snap.nodes.id.indexOf(selectedId) : -1;

  return (
    <>
      <h1>Fleet map</h1>
      <ErrorLine message={error} />
      <fieldset class="toolbar">
        <legend class="sr-only">Map options</legend>
        <label>
          Colour by{' '}
          <select value={mode} onChange={(e) => setMode(e.currentTarget.value as ColourMode)}>
            <option value="state">GPU state</option>
            <option value="tenant">Organisation</option>
          </select>
        </label>
        <label>
          Site{' '}
          <select value={site ?? ''} onChange={(e) => setSite(e.currentTarget.value || null)}>
            <option value="">All sites</option>
            {snap?.sites.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          GPU type{' '}
          <select value={gpuType ?? ''} onChange={(e) => setGpuType(e.currentTarget.value || null)}>
            <option value="">All types</option>
            {snap?.gpuTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        {snap && (
          <span class="muted" data-testid="fleet-total">
            {fmtInt(snap.gpuJob.length)} GPUs in the fleet · {fmtInt(snap.nodes.id.length)} nodes
          </span>
        )}
      </fieldset>
      <MapLegend entries={legend} title={mode === 'state' ? 'GPU states' : 'Organisations'} />
      <div class="map-layout">
        {snap && offsets ? (
          <FleetMap
            snap={snap}
            offsets={offsets}
            mode={mode}
            filter={filter}
            selected={selected}
            onSelect={(i) => setSelectedId(i >= 0 ? snap.nodes.id[i] : null)}
            onLegend={setLegend}
          />
        ) : (
          !error && <p aria-busy="true">Loading the fleet…</p>
        )}
        {snap && offsets && selected >= 0 && (
          <NodePanel snap={snap} offsets={offsets} node={selected} onChanged={reload} onClose={() => setSelectedId(null)} />
        )}
      </div>
      {snap && <OutOfService snap={snap} onSelect={setSelectedId} />}
    </>
  );
}
