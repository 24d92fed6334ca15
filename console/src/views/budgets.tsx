/**
 * Budgets: an organisation's monthly budget and its projects' (cap, spent, committed, remaining,
 * policy, alert thresholds, whether a webhook is set) with spend against cap, and the alerts its
 * budgets raised. Org admins (and operators, as the API allows) set a budget from the page; the API
 * is the only validator and its sentence is shown. Tenants see their own organisation; an operator
 * picks one (the budget routes are metadata: what the API answers an operator, nothing more).
 */
import { useState } from 'preact/hooks';
import { get, put, qs } from '../api/client.js';
import type { Budget, BudgetAlert, BudgetAlertList, BudgetList, Org, Page, Project, UsageReport } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { DataTable } from '../components/data-table.js';
import { DayChart, utcDays } from '../components/day-chart.js';
import { ErrorLine } from '../components/error-line.js';
import { Form, SelectField, SubmitRow, TextField } from '../components/field.js';
import { SpendBar } from '../components/spend-bar.js';
import { fmtEur, fmtTime } from '../lib/format.js';
import { Link } from '../lib/router.js';
import { byDay } from '../lib/usage-series.js';
import { useAction } from '../lib/use-action.js';
import { usePoll } from '../lib/use-poll.js';

const orgPath = (org: string, rest: string) => `/v1/orgs/${encodeURIComponent(org)}/${rest}`;
const budgetPath = (org: string, project: string) =>
  project ? `/v1/projects/${encodeURIComponent(project)}/budget` : orgPath(org, 'budget');
const whose = (b: Pick<Budget, 'org' | 'project'>) => (b.project ? `project ${b.project}` : `organisation ${b.org}`);

/** toCents: "1500" or "1500.5" EUR as integer cents; anything else is NaN, sent as null for the API to name. */
export function toCents(eur: string): number {
  const m = /^\s*(\d+)(?:\.(\d{1,2}))?\s*$/.exec(eur);
  return m ? Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0')) : Number.NaN;
}
const toThresholds = (text: string) =>
  text
    .split(/[\s,%]+/)
    .filter((t) => t !== '')
    .map(Number);

export function BudgetsView() {
  const me = useMe();
  const operator = me.role === 'operator';
  const orgs = usePoll(() => (operator ? get<Page<Org>>('/v1/orgs') : Promise.resolve(null)), 0);
  const [chosen, setChosen] = useState('');
  const org = operator ? chosen || orgs.data?.items[0]?.id || '' : (me.org ?? '');
  return (
    <>
      <h1>Budgets</h1>
      <p class="muted">
        Hard caps per calendar month (UTC) in EUR. At its cap a budget refuses new jobs (policy refuse) or holds them until budget
        frees (policy wait).
      </p>
      <ErrorLine message={orgs.error} />
      {operator && (
        <SelectField
          id="budget-org"
          label="Organisation"
          value={org}
          options={orgs.data?.items.map((o) => o.id) ?? []}
          onValue={setChosen}
        />
      )}
      {org && <OrgBudgets key={org} org={org} canSet={operator || me.role === 'admin'} operator={operator} />}
    </>
  );
}

function OrgBudgets({ org, canSet, operator }: { org: string; canSet: boolean; operator: boolean }) {
  const { data, error, reload } = usePoll(
    async () => {
      const [budgets, projects, alerts] = await Promise.all([
        get<BudgetList>(orgPath(org, 'budgets')),
        get<Page<Project>>('/v1/projects'),
        get<BudgetAlertList>(orgPath(org, 'budget-alerts')),
      ]);
      return {
        budgets: budgets.items,
        projects: projects.items.filter((p) => p.org === org).map((p) => p.id),
        alerts: alerts.items,
      };
    },
    10_000,
    [org],
  );
  const without = data?.projects.filter((p) => !data.budgets.some((b) => b.project === p)) ?? [];
  return (
    <>
      <section class="panel" aria-labelledby="budgets-title">
        <h2 id="budgets-title">
          Budgets of {org} {data?.budgets[0] && <span class="muted">({data.budgets[0].month})</span>}
        </h2>
        <ErrorLine message={error} />
        {data && data.budgets.length === 0 && <p>No budgets: jobs of {org} are not limited by cost.</p>}
        {data && data.budgets.length > 0 && (
          <DataTable
            testid="budgets"
            cols={[
              'Budget',
              { label: 'Cap', num: true },
              { label: 'Spent', num: true },
              { label: 'Committed', num: true },
              { label: 'Remaining', num: true },
              'Spend against cap',
              'Policy',
              'Alerts at',
              'Webhook',
            ]}
            rows={data.budgets}
            row={(b) => (
              <tr key={b.project ?? ''} data-budget={b.project ?? 'org'}>
                <th scope="row">{b.project ? `project ${b.project}` : `organisation ${b.org}`}</th>
                <td class="num">{fmtEur(b.capCents)}</td>
                <td class="num">{fmtEur(b.spentCents)}</td>
                <td class="num">{fmtEur(b.committedCents)}</td>
                <td class="num" data-testid="remaining">
                  {fmtEur(b.remainingCents)}
                </td>
                <td>
                  <SpendBar cap={b.capCents} spent={b.spentCents} committed={b.committedCents} thresholds={b.alertThresholds} />
                </td>
                <td data-testid="policy">{b.policy}</td>
                <td>{b.alertThresholds.length ? b.alertThresholds.map((t) => `${t}%`).join(', ') : 'none'}</td>
                <td>{b.webhookUrl ? 'set' : 'not set'}</td>
              </tr>
            )}
          />
        )}
        {without.length > 0 && (
          <p class="muted" data-testid="without-budget">
            Projects without a budget of their own: {without.join(', ')}.
          </p>
        )}
      </section>
      <SpendHistory org={org} operator={operator} month={data?.budgets[0]?.month} />
      {canSet && data && <SetBudgetForm org={org} budgets={data.budgets} projects={data.projects} onSet={reload} />}
      <section class="panel" aria-labelledby="alerts-title">
        <h2 id="alerts-title">Alerts</h2>
        {data && data.alerts.length === 0 && <p>No budget has reached an alert threshold.</p>}
        {data && data.alerts.length > 0 && <AlertsTable alerts={data.alerts} />}
      </section>
    </>
  );
}

/**
 * SpendHistory: what the organisation spent on each UTC day of the budgets' month so far, stacked
 * per project, from GET /v1/usage grouped by day and project (the path budgets' spent is read by).
 */
function SpendHistory({ org, operator, month }: { org: string; operator: boolean; month: string | undefined }) {
  const m = month ?? new Date().toISOString().slice(0, 7);
  const [y, mo] = m.split('-').map(Number);
  const next = new Date(Date.UTC(y, mo, 1)).toISOString().slice(0, 10);
  const lastDay = new Date(Date.UTC(y, mo, 0)).toISOString().slice(0, 10);
  const query = { from: `${m}-01`, to: next, groupBy: 'day,project', org: operator ? org : undefined };
  const { data, error } = usePoll(() => get<UsageReport>(`/v1/usage${qs(query)}`), 30_000, [org, m]);
  const days = utcDays(`${m}-01`, lastDay);
  return (
    <section class="panel" aria-labelledby="spend-history">
      <h2 id="spend-history">Spend per day, {m}</h2>
      <ErrorLine message={error} />
      {data && (
        <>
          <DayChart
            testid="spend-chart"
            days={days}
            series={byDay(
              data.items,
              days,
              (r) => r.project ?? '',
              // A reserved organisation's spend is net of its reservations (what the budget counts).
              (r) => (r.netCost ?? r.cost) / 100,
            )}
            unit="EUR"
            fmt={(v) => (v === 0 ? '0' : v >= 10 ? String(Math.round(v)) : v.toFixed(2))}
            label={`Spend per day of ${org} in ${m}, per project: ${fmtEur(data.total.netCost ?? data.total.cost)} so far`}
          />
          <p data-testid="spend-total">
            {fmtEur(data.total.netCost ?? data.total.cost)} metered in {m} so far (running jobs up to now
            {data.total.netCost === undefined ? '' : ', net of reserved capacity'}). <Link href="/usage">Usage over time</Link>
          </p>
        </>
      )}
    </section>
  );
}

function AlertsTable({ alerts }: { alerts: BudgetAlert[] }) {
  return (
    <DataTable
      testid="budget-alerts"
      cols={['When', 'Budget', 'Month', { label: 'Threshold', num: true }, { label: 'Spent + committed', num: true }, 'Webhook']}
      rows={alerts}
      row={(a) => (
        <tr key={a.id} data-alert={a.id}>
          <td>{fmtTime(a.at)}</td>
          <th scope="row">{whose(a)}</th>
          <td>{a.month}</td>
          <td class="num">{a.thresholdPct}%</td>
          <td class="num">
            {fmtEur(a.spentCents + a.committedCents)} of {fmtEur(a.capCents)}
          </td>
          <td>
            {a.delivery.state === 'none' ? 'no webhook' : a.delivery.state}
            {a.delivery.attempts > 1 && ` after ${a.delivery.attempts} attempts`}
            {a.delivery.lastError && a.delivery.state !== 'delivered' && <span class="muted"> ({a.delivery.lastError})</span>}
          </td>
        </tr>
      )}
    />
  );
}

function SetBudgetForm({
  org,
  budgets,
  projects,
  onSet,
}: {
  org: string;
  budgets: Budget[];
  projects: string[];
  onSet: () => void;
}) {
  const [target, setTarget] = useState('');
  const current = (t: string) => budgets.find((b) => (b.project ?? '') === t);
  const fill = (t: string) => {
    const b = current(t);
    return {
      cap: b ? String(b.capCents / 100) : '',
      policy: b?.policy ?? 'refuse',
      thresholds: b ? b.alertThresholds.join(', ') : '',
    };
  };
  const [values, setValues] = useState(() => fill(''));
  const [done, setDone] = useState<string | null>(null);
  const action = useAction();
  const choose = (t: string) => {
    setTarget(t);
    setValues(fill(t));
    setDone(null);
    action.setError(null);
  };
  const submit = async () => {
    setDone(null);
    const body = { capCents: toCents(values.cap), policy: values.policy, alertThresholds: toThresholds(values.thresholds) };
    let saved: Budget | null = null;
    if (
      await action.run(async () => {
        saved = await put<Budget>(budgetPath(org, target), body);
      })
    ) {
      const b = saved as Budget | null;
      if (b) setDone(`The budget of ${whose(b)} is ${fmtEur(b.capCents)} a month, policy ${b.policy}.`);
      onSet();
    }
  };
  return (
    <section class="panel" aria-labelledby="set-budget">
      <Form id="set-budget" title="Set a budget" kind="budget-form" onSubmit={submit}>
        <SelectField
          id="budget-target"
          label="Budget of"
          value={target}
          options={projects}
          blank={`the organisation ${org}`}
          onValue={choose}
        />
        <TextField
          id="budget-cap"
          label="Cap per month (EUR)"
          value={values.cap}
          inputMode="decimal"
          autoComplete="off"
          onValue={(cap) => setValues({ ...values, cap })}
        />
        <SelectField
          id="budget-policy"
          label="At the cap"
          value={values.policy}
          options={['refuse', 'wait']}
          onValue={(policy) => setValues({ ...values, policy: policy === 'wait' ? 'wait' : 'refuse' })}
        />
        <TextField
          id="budget-thresholds"
          label="Alert thresholds (% of cap)"
          value={values.thresholds}
          placeholder="50, 80, 100"
          autoComplete="off"
          onValue={(thresholds) => setValues({ ...values, thresholds })}
        />
        <SubmitRow label={action.busy ? 'Setting…' : 'Set budget'} busy={action.busy} />
      </Form>
      <ErrorLine message={action.error} id="budget-error" />
      {done && (
        <p role="status" data-testid="budget-set">
          {done}
        </p>
      )}
    </section>
  );
}
