/**
 * "Services": the organisation's inference services (name, image, ready/wanted replicas, URL,
 * requests/s, p99 latency), refreshed every few seconds; and one service: its replicas with the
 * node and job state of each (read from the replica jobs, so a waiting replica shows why it waits),
 * and the scale and update controls, which PATCH the service. Every failure shows the API's sentence.
 */
import { useEffect, useState } from 'preact/hooks';
import { shareSentence } from '../../../src/model/gpu-sharing.js';
import { get, patch } from '../api/client.js';
import type { Job, Service } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { Form, SelectField, SubmitRow, TextField } from '../components/field.js';
import { Link } from '../lib/router.js';
import { useAction } from '../lib/use-action.js';
import { usePoll } from '../lib/use-poll.js';

const ready = (s: Service) => s.replicas.filter((r) => r.phase === 'ready').length;
const rps = (s: Service) => s.traffic.requestsPerSecond.toFixed(1);
const p99 = (s: Service) => (s.traffic.latencyP99Ms === null ? '–' : `${s.traffic.latencyP99Ms.toFixed(0)} ms`);
const image = (s: Service) =>
  s.spec.template.image ?? (s.spec.template.command ? 'host process' : s.redacted?.length ? 'withheld' : '–');

export function ServicesView() {
  const { data, error } = usePoll(() => get<{ items: Service[] }>('/v1/services'), 5_000);
  return (
    <>
      <h1>Services</h1>
      <p class="muted">
        Inference endpoints: replicas of a job template behind the workload proxy, autoscaled on requests in flight. Create one
        with <code>gigafab service create -f chat.yaml</code>.
      </p>
      <section class="panel" aria-labelledby="svc-title">
        <h2 id="svc-title">Your services</h2>
        <ErrorLine message={error} />
        {data && data.items.length === 0 && <p>No services.</p>}
        {data && data.items.length > 0 && (
          <DataTable
            testid="services"
            cols={[
              'Name',
              'Project',
              'Image',
              { label: 'Ready / wanted', num: true },
              'URL',
              { label: 'Req/s', num: true },
              { label: 'p99', num: true },
            ]}
            rows={data.items}
            row={(s) => (
              <tr key={s.id} data-service={s.id}>
                <th scope="row">
                  <Link href={`/services/${encodeURIComponent(s.id)}`}>{s.name}</Link>
                </th>
                <td>{s.project}</td>
                <td>
                  <code>{image(s)}</code>
                </td>
                <td class="num" data-testid="replicas">
                  {ready(s)} / {s.desiredReplicas}
                </td>
                <td>{s.url ? <code>{s.url}</code> : '–'}</td>
                <td class="num">{rps(s)}</td>
                <td class="num">{p99(s)}</td>
              </tr>
            )}
          />
        )}
      </section>
    </>
  );
}

interface Detail {
  service: Service;
  /** The replica jobs by id (a replica whose job cannot be read is left out). */
  jobs: Map<string, Job>;
}

async function loadDetail(id: string): Promise<Detail> {
  const service = await get<Service>(`/v1/services/${encodeURIComponent(id)}`);
  const jobs = new Map<string, Job>();
  const read = await Promise.allSettled(service.replicas.map((r) => get<Job>(`/v1/jobs/${encodeURIComponent(r.jobId)}`)));
  for (const r of read) if (r.status === 'fulfilled') jobs.set(r.value.id, r.value);
  return { service, jobs };
}

export function ServiceDetailView({ id }: { id: string }) {
  const me = useMe();
  const { data, error, reload } = usePoll(() => loadDetail(id), 3_000, [id]);
  const s = data?.service;
  return (
    <>
      <h1>Service {s ? s.name : id}</h1>
      <p>
        <Link href="/services">← All services</Link>
      </p>
      <ErrorLine message={error} />
      {!s && !error && <p aria-busy="true">Loading…</p>}
      {s && data && (
        <>
          <section class="panel" aria-labelledby="svc-summary">
            <h2 id="svc-summary">Summary</h2>
            <dl class="facts">
              <dt>Id</dt>
              <dd>
                <code>{s.id}</code> (project {s.project})
              </dd>
              <dt>URL</dt>
              <dd>{s.url ? <code>{s.url}</code> : 'no workload proxy'}</dd>
              <dt>Image</dt>
              <dd>
                <code>{image(s)}</code>
              </dd>
              <dt>Revision</dt>
              <dd>{s.revision}</dd>
              <dt>Per replica</dt>
              <dd data-testid="svc-per-replica">
                {shareSentence(s.spec.template, s.spec.template.gpuType) ??
                  `${s.spec.template.gpusPerNode} × ${s.spec.template.gpuType}`}
              </dd>
              <dt>Replicas</dt>
              <dd data-testid="svc-replicas">
                {ready(s)} ready of {s.desiredReplicas} wanted (scaling {s.scaling.minReplicas}–{s.scaling.maxReplicas})
              </dd>
              <dt>Spread</dt>
              <dd>
                {s.spec.spread}
                {s.spec.spread !== 'none' &&
                  ` (over ${s.spec.spreadOver?.startsWith('label:') ? `values of ${s.spec.spreadOver.slice(6)}` : `${s.spec.spreadOver ?? 'node'}s`})`}
              </dd>
              <dt>Traffic</dt>
              <dd>
                {rps(s)} req/s, p99 {p99(s)}, {s.traffic.inFlight} in flight, {s.traffic.errors} errors of {s.traffic.requests}
              </dd>
            </dl>
          </section>
          <section class="panel" aria-labelledby="svc-reps">
            <h2 id="svc-reps">Replicas</h2>
            {s.replicas.length === 0 && <p>No replicas.</p>}
            {s.replicas.length > 0 && (
              <DataTable
                testid="service-replicas"
                cols={['Job', 'Revision', 'Phase', 'State', 'Node', 'Endpoint']}
                rows={s.replicas}
                row={(r) => {
                  const job = data.jobs.get(r.jobId);
                  return (
                    <tr key={r.jobId} data-replica={r.jobId}>
                      <th scope="row">
                        <Link href={`/jobs/${encodeURIComponent(r.jobId)}`}>
                          <code>{r.jobId}</code>
                        </Link>
                      </th>
                      <td>{r.revision}</td>
                      <td>{r.phase}</td>
                      <td data-testid="replica-state">
                        {job?.state ?? '–'}
                        {job?.pendingReason && <span class="muted"> — {job.pendingReason.message}</span>}
                      </td>
                      <td data-testid="replica-node">{job?.placement?.nodes.map((n) => n.node).join(', ') ?? '–'}</td>
                      <td>{r.endpoint ?? '–'}</td>
                    </tr>
                  );
                }}
              />
            )}
          </section>
          {(me.role === 'admin' || me.role === 'member') && <ServiceControls service={s} onChanged={reload} />}
        </>
      )}
    </>
  );
}

/** ServiceControls: scale (min/max replicas) and update (image, spread): each a PATCH of the service. */
function ServiceControls({ service, onChanged }: { service: Service; onChanged: () => void }) {
  const [min, setMin] = useState(String(service.scaling.minReplicas));
  const [max, setMax] = useState(String(service.scaling.maxReplicas));
  const [img, setImg] = useState(service.spec.template.image ?? '');
  const [spread, setSpread] = useState<string>(service.spec.spread);
  const scaling = useAction();
  const updating = useAction();
  const [done, setDone] = useState<string | null>(null);
  // A different service (navigation) starts from its own values.
  useEffect(() => {
    setMin(String(service.scaling.minReplicas));
    setMax(String(service.scaling.maxReplicas));
    setImg(service.spec.template.image ?? '');
    setSpread(service.spec.spread);
  }, [service.id]);
  const path = `/v1/services/${encodeURIComponent(service.id)}`;
  const num = (v: string) => (v.trim() === '' ? undefined : Number(v));
  const send = async (a: ReturnType<typeof useAction>, body: Record<string, unknown>, what: string) => {
    setDone(null);
    let after: Service | undefined;
    if (
      await a.run(async () => {
        after = await patch<Service>(path, body);
      })
    ) {
      setDone(`${what}: revision ${after?.revision}, ${after?.scaling.minReplicas}–${after?.scaling.maxReplicas} replicas`);
      onChanged();
    }
  };
  return (
    <section class="panel" aria-labelledby="svc-change">
      <h2 id="svc-change">Change</h2>
      {done && (
        <p role="status" data-testid="svc-done">
          {done}
        </p>
      )}
      <Form
        id="svc-scale"
        title="Scale"
        kind="inline-form"
        onSubmit={() => send(scaling, { minReplicas: num(min), maxReplicas: num(max) }, 'scaled')}
      >
        <TextField id="svc-min" label="Min replicas" value={min} onValue={setMin} inputMode="numeric" />
        <TextField id="svc-max" label="Max replicas" value={max} onValue={setMax} inputMode="numeric" />
        <ErrorLine message={scaling.error} />
        <SubmitRow label="Scale" busy={scaling.busy} />
      </Form>
      <Form
        id="svc-update"
        title="Update (a new revision: rolling update)"
        kind="inline-form"
        onSubmit={() => {
          const body: Record<string, unknown> = { spread };
          if (img !== (service.spec.template.image ?? '')) body.template = { ...service.spec.template, image: img || undefined };
          return send(updating, body, 'updated');
        }}
      >
        <TextField id="svc-image" label="Image" value={img} onValue={setImg} placeholder="host process" />
        <SelectField
          id="svc-spread"
          label="Spread"
          value={spread}
          options={['preferred', 'required', 'none']}
          onValue={setSpread}
        />
        <ErrorLine message={updating.error} />
        <SubmitRow label="Update" busy={updating.busy} />
      </Form>
    </section>
  );
}
