/**
 * Usage of every organisation (operators): GPU-hours and cost per UTC day over the last 7, 30 or 90
 * days stacked per organisation (GET /v1/usage grouped by day and org), a table per organisation
 * (grouped by org: GPU-hours, runs, cost, and the net cost after reserved capacity where a
 * commitment falls in the period), and the API's own CSV of it.
 */
import { useState } from 'preact/hooks';
import { download, get, qs } from '../api/client.js';
import type { UsageReport } from '../api/types.js';
import { DataTable } from '../components/data-table.js';
import { dayOffset, utcDays } from '../components/day-chart.js';
import { ErrorLine } from '../components/error-line.js';
import { PeriodToolbar } from '../components/period-toolbar.js';
import { UsageCells, UsageCharts } from '../components/usage-parts.js';
import { fmtEur } from '../lib/format.js';
import { attempt } from '../lib/problem.js';
import { byDay, fmtHours } from '../lib/usage-series.js';
import { usePoll } from '../lib/use-poll.js';

export function UsageAllView() {
  const [range, setRange] = useState<number>(30);
  const [csvError, setCsvError] = useState<string | null>(null);
  const from = dayOffset(-(range - 1));
  const last = dayOffset(0);
  const to = dayOffset(1);
  // Each answer remembers its period, so a range change never draws the old rows under the new days.
  const periodKey = `${from}/${to}`;
  const polled = usePoll(
    async () => {
      const [perDay, perOrg] = await Promise.all([
        get<UsageReport>(`/v1/usage${qs({ from, to, groupBy: 'day,org' })}`),
        get<UsageReport>(`/v1/usage${qs({ from, to, groupBy: 'org' })}`),
      ]);
      return { periodKey, perDay, perOrg };
    },
    15_000,
    [range, from],
  );
  const data = polled.data?.periodKey === periodKey ? polled.data : null;
  const days = utcDays(from, last);
  const org = (r: { org?: string }) => r.org ?? '';
  const hours = byDay(data?.perDay.items ?? [], days, org, (r) => r.gpuHours);
  const cost = byDay(data?.perDay.items ?? [], days, org, (r) => r.cost / 100);
  const net = data?.perOrg.total.netCost !== undefined;
  const period = `${from} to ${last}`;
  const csv = () =>
    void attempt(
      () =>
        download(`/v1/usage${qs({ from, to, groupBy: 'org,day', format: 'csv' })}`, `usage-all-${from}-${last}.csv`, 'text/csv'),
      setCsvError,
    );
  return (
    <>
      <h1>Usage, all organisations</h1>
      <section class="panel" aria-labelledby="usage-all">
        <h2 id="usage-all">Usage over time</h2>
        <p class="muted">
          GPU-hours and their cost per UTC day, per organisation: run time as metered, a running job up to now, at the list prices
          in effect at each instant.
        </p>
        <PeriodToolbar range={range} onRange={setRange} onCsv={csv} />
        <ErrorLine message={polled.error ?? csvError} />
        {data && (
          <>
            <p data-testid="usage-all-total">
              All organisations, {period}: {fmtHours(data.perOrg.total.gpuHours)} GPU-hours, {fmtEur(data.perOrg.total.cost)}
              {net && ` (net of reserved capacity ${fmtEur(data.perOrg.total.netCost ?? 0)})`}.
            </p>
            <UsageCharts
              testid="usage-all"
              days={days}
              hours={hours}
              cost={cost}
              what={`, ${period}, per organisation`}
              totalHours={data.perOrg.total.gpuHours}
              totalCost={data.perOrg.total.cost}
            />
            {data.perOrg.items.length === 0 ? (
              <p>No metered usage in this period.</p>
            ) : (
              <DataTable
                testid="usage-all-table"
                caption={`Usage per organisation, ${period}`}
                cols={[
                  'Organisation',
                  { label: 'GPU-hours', num: true },
                  { label: 'GPU-seconds', num: true },
                  { label: 'Runs', num: true },
                  { label: 'Cost', num: true },
                  net && { label: 'Net of reserved capacity', num: true },
                ]}
                rows={data.perOrg.items}
                row={(r) => (
                  <tr key={r.org} data-row={r.org}>
                    <th scope="row">{r.org}</th>
                    <UsageCells r={r} />
                    {net && (
                      <td class="num" data-col="netCost">
                        {fmtEur(r.netCost ?? r.cost)}
                      </td>
                    )}
                  </tr>
                )}
              />
            )}
          </>
        )}
      </section>
    </>
  );
}
