/**
 * Operator view: GPUs allocated against the total per site and GPU type, and the queue length, over
 * time. Samples come from /v1/fleet/history (one every 10 s, kept by the server); only new ones
 * are fetched on each poll.
 */
import { useMemo, useRef, useState } from 'preact/hooks';
import { get, qs } from '../api/client.js';
import type { FleetHistory, FleetHistorySample } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { TimeChart } from '../components/time-chart.js';
import { fmtInt, fmtPct } from '../lib/format.js';
import { SERIES } from '../lib/palette.js';
import { usePoll } from '../lib/use-poll.js';

const KEEP = 8640;

export function UtilisationView() {
  const samples = useRef<FleetHistorySample[]>([]);
  const [site, setSite] = useState('');
  const { data, error } = usePoll(async () => {
    const last = samples.current.at(-1)?.at;
    const h = await get<FleetHistory>(`/v1/fleet/history${qs({ since: last })}`);
    samples.current = [...samples.current, ...h.samples].slice(-KEEP);
    return { ...h, samples: samples.current };
  }, 10_000);

  const points = useMemo(() => (data ? [...data.samples, data.current] : []), [data]);
  const xs = useMemo(() => points.map((p) => p.at / 1000), [points]);
  const series = data ? data.series.map((s, i) => ({ ...s, i })).filter((s) => !site || s.site === site) : [];
  const sites = data ? [...new Set(data.series.map((s) => s.site))] : [];

  return (
    <>
      <h1>Utilisation</h1>
      <ErrorLine message={error} />
      {data && (
        <div class="toolbar">
          <label>
            Site{' '}
            <select value={site} onChange={(e) => setSite(e.currentTarget.value)}>
              <option value="">All sites</option>
              {sites.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <span class="muted">
            {fmtInt(points.length)} samples, one every {data.intervalSeconds} s
          </span>
        </div>
      )}
      {!data && !error && <p aria-busy="true">Loading history…</p>}
      <div class="chart-grid">
        {data && (
          <section class="panel" aria-labelledby="queue-chart-title">
            <h2 id="queue-chart-title">Queue</h2>
            <TimeChart
              label={`Jobs queued and running over time; now ${fmtInt(data.current.queued)} queued, ${fmtInt(data.current.running)} running`}
              yLabel="jobs"
              series={[
                { label: 'queued', colour: SERIES.queued, fill: true },
                { label: 'running', colour: SERIES.running },
              ]}
              data={[xs, points.map((p) => p.queued), points.map((p) => p.running)]}
            />
          </section>
        )}
        {series.map((s) => {
          const now = data!.current.allocated[s.i] ?? 0;
          return (
            <section class="panel" key={`${s.site}/${s.gpuType}`} aria-labelledby={`u-${s.site}-${s.gpuType}`}>
              <h2 id={`u-${s.site}-${s.gpuType}`}>
                {s.site} · {s.gpuType}{' '}
                <span class="muted">
                  {fmtInt(now)} / {fmtInt(s.total)} ({fmtPct(now, s.total)})
                </span>
              </h2>
              <TimeChart
                label={`${s.gpuType} GPUs allocated in ${s.site} over time; now ${fmtInt(now)} of ${fmtInt(s.total)}`}
                yLabel="GPUs"
                series={[
                  { label: 'allocated', colour: SERIES.allocated, fill: true },
                  { label: 'total', colour: SERIES.total, dashed: true },
                ]}
                data={[xs, points.map((p) => p.allocated[s.i] ?? null), points.map(() => s.total)]}
              />
            </section>
          );
        })}
      </div>
    </>
  );
}
