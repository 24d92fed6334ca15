/**
 * Usage: the organisation's metered GPU-hours, their cost and their energy at the GPUs (kWh: measured
 * where the driver measured it, the power model elsewhere) per UTC day over the last 7, 30 or 90
 * days, stacked per project (from GET /v1/usage grouped by day and project), the same figures as
 * a table, the API's own CSV to download; then each project's GPUs in use against quota and its
 * jobs running and waiting. Tenants see their own organisation (the API answers nothing else); an
 * operator picks one, as on the budgets page.
 */
import { useState } from 'preact/hooks';
import { download, get, qs } from '../api/client.js';
import type { Job, Org, Page, Project, UsageReport } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { DataTable } from '../components/data-table.js';
import { DayChart, dayOffset, utcDays } from '../components/day-chart.js';
import { ErrorLine } from '../components/error-line.js';
import { SelectField } from '../components/field.js';
import { PeriodToolbar } from '../components/period-toolbar.js';
import { QuotaBar } from '../components/quota-bar.js';
import { UsageCells, UsageCharts } from '../components/usage-parts.js';
import { fmtEur, fmtInt } from '../lib/format.js';
import { attempt } from '../lib/problem.js';
import { byDay, fmtHours, fmtKwh } from '../lib/usage-series.js';
import { usePoll } from '../lib/use-poll.js';

export function UsageView() {
  const me = useMe();
  const operator = me.role === 'operator';
  const orgs = usePoll(() => (operator ? get<Page<Org>>('/v1/orgs') : Promise.resolve(null)), 0);
  const [chosen, setChosen] = useState('');
  const org = operator ? chosen || orgs.data?.items[0]?.id || '' : (me.org ?? '');
  return (
    <>
      <h1>Usage and quota</h1>
      <ErrorLine message={orgs.error} />
      {operator && (
        <SelectField
          id="usage-org"
          label="Organisation"
          value={org}
          options={orgs.data?.items.map((o) => o.id) ?? []}
          onValue={setChosen}
        />
      )}
      {org && <UsageHistory key={org} org={org} operator={operator} />}
      {org && <Quotas key={`q-${org}`} org={org} />}
    </>
  );
}

function UsageHistory({ org, operator }: { org: string; operator: boolean }) {
  const [range, setRange] = useState<number>(30);
  const [csvError, setCsvError] = useState<string | null>(null);
  const from = dayOffset(-(range - 1));
  const last = dayOffset(0);
  // [from, to): up to the end of today (UTC). An operator names the organisation; a tenant's is implied.
  const query = { from, to: dayOffset(1), groupBy: 'day,project', org: operator ? org : undefined };
  // Each answer remembers the period it is for: after a change of range the previous answer is not
  // drawn under the new period's days (the plot and table stay empty until the new one arrives).
  const periodKey = `${from}/${query.to}`;
  const polled = usePoll(async () => ({ periodKey, report: await get<UsageReport>(`/v1/usage${qs(query)}`) }), 15_000, [
    org,
    range,
    from,
  ]);
  const { error } = polled;
  const data = polled.data?.periodKey === periodKey ? polled.data.report : null;
  const days = utcDays(from, last);
  const items = data?.items ?? [];
  const hours = byDay(
    items,
    days,
    (r) => r.project ?? '',
    (r) => r.gpuHours,
  );
  const cost = byDay(
    items,
    days,
    (r) => r.project ?? '',
    (r) => r.cost / 100,
  );
  const kwh = byDay(
    items,
    days,
    (r) => r.project ?? '',
    (r) => r.itKwh,
  );
  const csv = () =>
    void attempt(
      () => download(`/v1/usage${qs({ ...query, format: 'csv' })}`, `usage-${org}-${from}-${last}.csv`, 'text/csv'),
      setCsvError,
    );
  const period = `${from} to ${last}`;
  return (
    <section class="panel" aria-labelledby="usage-history">
      <h2 id="usage-history">Usage over time</h2>
      <p class="muted">
        GPU-hours, their cost and their energy per UTC day, per project: run time as metered, a running job up to now. The cost is
        at the prices in effect at each instant, rounded up to the billing granularity. The energy is at the GPUs: measured where
        the driver measured it, the power model elsewhere.
      </p>
      <PeriodToolbar range={range} onRange={setRange} onCsv={csv} />
      <ErrorLine message={error ?? csvError} />
      {data && (
        <>
          <p data-testid="usage-total">
            {org}, {period}: {fmtHours(data.total.gpuHours)} GPU-hours, {fmtEur(data.total.cost)}, {fmtKwh(data.total.itKwh)} kWh
            at the GPUs ({fmtKwh(data.total.measuredKwh)} measured)
            {data.total.unpricedGpuSeconds > 0 &&
              ` (${fmtHours(data.total.unpricedGpuSeconds / 3600)} GPU-hours had no price in effect and are not in the cost)`}
            .
          </p>
          <UsageCharts
            testid="usage"
            days={days}
            hours={hours}
            cost={cost}
            what={` of ${org}, ${period}, per project`}
            totalHours={data.total.gpuHours}
            totalCost={data.total.cost}
          >
            <div>
              <h3>Energy per day (kWh at the GPUs)</h3>
              <DayChart
                testid="usage-kwh-chart"
                days={days}
                series={kwh}
                unit="kWh"
                fmt={(v) => (v === 0 ? '0' : v >= 10 ? fmtInt(Math.round(v)) : v.toFixed(3))}
                label={`Energy at the GPUs per day of ${org}, ${period}, per project: ${fmtKwh(data.total.itKwh)} kWh in all`}
              />
            </div>
          </UsageCharts>
          {items.length === 0 ? (
            <p>No metered usage in this period.</p>
          ) : (
            <DataTable
              testid="usage-table"
              caption={`Usage of ${org} per day and project`}
              cols={[
                'Day',
                'Project',
                { label: 'GPU-hours', num: true },
                { label: 'GPU-seconds', num: true },
                { label: 'Runs', num: true },
                { label: 'Cost', num: true },
                { label: 'kWh', num: true },
              ]}
              rows={items}
              row={(r) => (
                <tr key={`${r.day}/${r.project}`} data-row={`${r.day}/${r.project}`}>
                  <td>{r.day}</td>
                  <th scope="row">{r.project}</th>
                  <UsageCells r={r} />
                  <td class="num" data-col="itKwh">
                    {fmtKwh(r.itKwh)}
                  </td>
                </tr>
              )}
            />
          )}
        </>
      )}
    </section>
  );
}

function Quotas({ org }: { org: string }) {
  const { data, error } = usePoll(
    async () => {
      const [projects, running, queued] = await Promise.all([
        get<Page<Project>>('/v1/projects'),
        get<Page<Job>>('/v1/jobs?state=running&limit=1000'),
        get<Page<Job>>('/v1/jobs?state=queued&limit=1000'),
      ]);
      const count = (jobs: Job[], project: string) => jobs.filter((j) => j.project === project).length;
      return projects.items
        .filter((p) => p.org === org)
        .map((p) => ({ ...p, running: count(running.items, p.id), queued: count(queued.items, p.id) }));
    },
    5000,
    [org],
  );
  return (
    <>
      <h2>Quota</h2>
      <ErrorLine message={error} />
      {data && data.length === 0 && <p>The organisation has no projects yet.</p>}
      {data?.map((p) => (
        <section class="panel" key={p.id} aria-labelledby={`p-${p.id}`} data-project={p.id}>
          <h3 id={`p-${p.id}`}>
            {p.name} <span class="muted">({p.id})</span>
          </h3>
          <p>
            {fmtInt(p.running)} job{p.running === 1 ? '' : 's'} running, {fmtInt(p.queued)} waiting.
          </p>
          {p.quotas.length === 0 ? (
            <p>No GPU quota: jobs of this project wait with reason no_quota until an operator sets one.</p>
          ) : (
            <table class="data">
              <thead>
                <tr>
                  <th scope="col">GPU type</th>
                  <th scope="col">In use / quota</th>
                </tr>
              </thead>
              <tbody>
                {p.quotas.map((q) => (
                  <tr key={q.gpuType}>
                    <th scope="row">{q.gpuType}</th>
                    <td>
                      <QuotaBar used={q.used} quota={q.gpus} label={`${q.gpuType} GPUs in use against quota`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ))}
    </>
  );
}
