/**
 * Submit a job. The API is the only validator (the form sets noValidate): its problem+json
 * `errors[].path` entries are shown next to the matching field, with aria-invalid and
 * aria-describedby, and focus moves to the first field in error. Before submission the form shows
 * what the job could cost (POST /v1/jobs/estimate, as `job submit --dry-run`) and what the
 * organisation's and project's budgets would do with it (estimate.tsx); a refusal for budget
 * (422 budget_exhausted) is shown as such, with the API's sentence.
 */
import type { ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api/client.js';
import type { FieldError, FleetSummary, Job, JobSpecInput, Page, PriceVersion, Project } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { ErrorLine } from '../components/error-line.js';
import { PRIORITIES } from '../lib/job-states.js';
import { Link, navigate } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';
import { EstimatePanel } from './estimate.js';

type FieldName =
  | 'name'
  | 'project'
  | 'gpuType'
  | 'nodes'
  | 'gpusPerNode'
  | 'priorityClass'
  | 'maxRuntimeSeconds'
  | 'image'
  | 'command'
  | 'env'
  | 'labels'
  | 'simulation.durationSeconds'
  | 'simulation.exitCode';

const FIELDS: readonly FieldName[] = [
  'name',
  'project',
  'gpuType',
  'nodes',
  'gpusPerNode',
  'priorityClass',
  'maxRuntimeSeconds',
  'image',
  'command',
  'env',
  'labels',
  'simulation.durationSeconds',
  'simulation.exitCode',
];

/** fieldOf maps an API error path (e.g. `labels.Team`, `simulation.exitCode`) to the form field showing it. */
function fieldOf(path: string): FieldName | null {
  if (path === 'simulation') return 'simulation.durationSeconds';
  for (const f of FIELDS) if (path === f || path.startsWith(`${f}.`)) return f;
  return null;
}

const num = (v: string): number | undefined => (v.trim() === '' ? undefined : Number(v));
/** kv parses KEY=VALUE lines; a line without `=` becomes a key with an empty value (the API says what is wrong). */
function kv(text: string): Record<string, string> | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return undefined;
  return Object.fromEntries(
    lines.map((l) => {
      const i = l.indexOf('=');
      return i < 0 ? [l.trim(), ''] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    }),
  );
}

type Values = Record<FieldName, string>;

const HINTS: Partial<Record<FieldName, string>> = {
  nodes: 'More than 1 makes a gang',
  command: 'One argument per line',
  env: 'NAME=value, one per line',
  labels: 'key=value, one per line',
};

function toSpec(v: Values): JobSpecInput {
  const command = v.command.split('\n').filter((l) => l.trim() !== '');
  const duration = num(v['simulation.durationSeconds']);
  const exitCode = num(v['simulation.exitCode']);
  return {
    name: v.name,
    project: v.project,
    gpuType: v.gpuType || undefined,
    nodes: num(v.nodes),
    gpusPerNode: num(v.gpusPerNode),
    priorityClass: (v.priorityClass || undefined) as JobSpecInput['priorityClass'],
    maxRuntimeSeconds: num(v.maxRuntimeSeconds),
    image: v.image.trim() || undefined,
    command: command.length ? command : undefined,
    env: kv(v.env),
    labels: kv(v.labels),
    simulation: duration === undefined && exitCode === undefined ? undefined : { durationSeconds: duration, exitCode },
  };
}

export function SubmitView() {
  const me = useMe();
  const { data } = usePoll(async () => {
    const [projects, fleet, prices] = await Promise.all([
      get<Page<Project>>('/v1/projects'),
      get<FleetSummary>('/v1/fleet'),
      get<{ items: PriceVersion[] }>('/v1/price-versions'),
    ]);
    return { projects: projects.items, gpuTypes: fleet.gpuTypes, priced: prices.items.length > 0 };
  }, 0);
  const [values, setValues] = useState<Values>({
    name: '',
    project: '',
    gpuType: 'any',
    nodes: '1',
    gpusPerNode: '1',
    priorityClass: 'normal',
    maxRuntimeSeconds: '86400',
    image: '',
    command: '',
    env: '',
    labels: '',
    'simulation.durationSeconds': '600',
    'simulation.exitCode': '0',
  });
  const [errors, setErrors] = useState<Partial<Record<FieldName, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [overBudget, setOverBudget] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);
  const project = values.project || data?.projects[0]?.id || '';

  const set = (f: FieldName) => (e: Event) => setValues({ ...values, [f]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setFormError(null);
    setOverBudget(null);
    try {
      const job = await post<Job>('/v1/jobs', toSpec({ ...values, project }));
      navigate(`/jobs/${job.id}`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.problem?.code === 'budget_exhausted') {
        setOverBudget(err.message);
        return;
      }
      const byField: Partial<Record<FieldName, string>> = {};
      const rest: FieldError[] = [];
      for (const fe of err.fieldErrors) {
        const f = fieldOf(fe.path);
        if (f) byField[f] = byField[f] ? `${byField[f]}; ${fe.message}` : fe.message;
        else rest.push(fe);
      }
      setErrors(byField);
      const n = Object.keys(byField).length;
      setFormError(
        n > 0 && rest.length === 0
          ? `The job was not submitted: ${n} field${n === 1 ? ' needs' : 's need'} attention.`
          : err.message,
      );
      const first = FIELDS.find((f) => byField[f]);
      if (first) formRef.current?.querySelector<HTMLElement>(`[name="${first}"]`)?.focus();
    } finally {
      setBusy(false);
    }
  };

  const field = (f: FieldName, label: string, control: ComponentChildren) => (
    <div class={`field${errors[f] ? ' invalid' : ''}`} data-field={f}>
      <label for={`f-${f}`}>{label}</label>
      {control}
      {HINTS[f] && (
        <small id={`h-${f}`} class="muted">
          {HINTS[f]}
        </small>
      )}
      {errors[f] && (
        <small id={`e-${f}`} class="field-error" data-testid={`error-${f}`}>
          {errors[f]}
        </small>
      )}
    </div>
  );
  const attrs = (f: FieldName) => ({
    id: `f-${f}`,
    name: f,
    value: values[f],
    onInput: set(f),
    'aria-invalid': errors[f] ? true : undefined,
    'aria-describedby': [errors[f] ? `e-${f}` : '', HINTS[f] ? `h-${f}` : ''].filter(Boolean).join(' ') || undefined,
  });

  return (
    <>
      <h1>Submit a job</h1>
      <ErrorLine message={formError} id="form-error" />
      {overBudget && (
        <div class="error budget-outcome blocked" role="alert" data-testid="budget-refused">
          <strong>Not submitted: over budget.</strong> {overBudget} <Link href="/budgets">See the budgets</Link>
        </div>
      )}
      <form ref={formRef} class="form" noValidate onSubmit={(e) => void submit(e)}>
        {field('name', 'Name', <input {...attrs('name')} autoComplete="off" />)}
        {field(
          'project',
          'Project',
          <select {...attrs('project')} value={project} onChange={set('project')}>
            {data?.projects.map((p) => (
              <option key={p.id} value={p.id}>
                {p.id}
              </option>
            ))}
          </select>,
        )}
        {field(
          'gpuType',
          'GPU type',
          <select {...attrs('gpuType')} onChange={set('gpuType')}>
            <option value="any">any (the scheduler chooses)</option>
            {data?.gpuTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>,
        )}
        {field('nodes', 'Nodes', <input {...attrs('nodes')} type="number" inputMode="numeric" />)}
        {field('gpusPerNode', 'GPUs per node', <input {...attrs('gpusPerNode')} type="number" inputMode="numeric" />)}
        {field(
          'priorityClass',
          'Priority',
          <select {...attrs('priorityClass')} onChange={set('priorityClass')}>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>,
        )}
        {field(
          'maxRuntimeSeconds',
          'Wall-clock limit (seconds)',
          <input {...attrs('maxRuntimeSeconds')} type="number" inputMode="numeric" />,
        )}
        {field('image', 'Container image', <input {...attrs('image')} autoComplete="off" />)}
        {field('command', 'Command', <textarea {...attrs('command')} rows={3} />)}
        {field('env', 'Environment', <textarea {...attrs('env')} rows={2} />)}
        {field('labels', 'Labels', <textarea {...attrs('labels')} rows={2} />)}
        <fieldset>
          <legend>Simulation (simulated fleet only)</legend>
          {field(
            'simulation.durationSeconds',
            'Runs for (seconds)',
            <input {...attrs('simulation.durationSeconds')} type="number" inputMode="numeric" />,
          )}
          {field(
            'simulation.exitCode',
            'Exit code',
            <input {...attrs('simulation.exitCode')} type="number" inputMode="numeric" />,
          )}
        </fieldset>
        {data?.priced === false ? (
          <p class="muted" data-testid="estimate">
            No prices are set: jobs are not billed and no budget limits them.
          </p>
        ) : (
          data?.priced && me.org && <EstimatePanel org={me.org} spec={toSpec({ ...values, project })} />
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Submitting…' : 'Submit job'}
          </button>
        </div>
      </form>
    </>
  );
}
