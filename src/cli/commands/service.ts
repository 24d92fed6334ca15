/**
 * gigafab service create | list | show | update | delete, and service keys issue | list | revoke —
 * inference services (replicas of a job template behind the workload proxy, autoscaled on in-flight
 * requests). A service is written as YAML or JSON (`-f`); flags override its fields.
 */
import type { Command } from 'commander';
import { shareSentence } from '../../model/gpu-sharing.js';
import type { Service, ServiceApiKey } from '../../model/service-schemas.js';
import { spreadOverText } from '../../model/spread.js';
import { CliError, examples, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { type Obj, readJobFile } from '../jobspec.js';
import { renderKeyValues, renderTable } from '../output.js';

interface ScalingFlags {
  replicas?: number;
  min?: number;
  max?: number;
  target?: number;
  public?: boolean;
  private?: boolean;
  spread?: string;
  spreadOver?: string;
}

function scalingBody(o: ScalingFlags): Obj {
  return {
    ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
    ...(o.min !== undefined ? { minReplicas: o.min } : {}),
    ...(o.max !== undefined ? { maxReplicas: o.max } : {}),
    ...(o.target !== undefined ? { targetInFlightPerReplica: o.target } : {}),
    ...(o.public ? { visibility: 'public' } : o.private ? { visibility: 'private' } : {}),
    ...(o.spread !== undefined ? { spread: o.spread } : {}),
    ...(o.spreadOver !== undefined ? { spreadOver: o.spreadOver } : {}),
  };
}

const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);

/** replicaGpus: what each replica runs on — whole GPUs, a time-sliced fraction or a MIG instance. */
function replicaGpus(t: Service['spec']['template']): string {
  return shareSentence(t, t.gpuType) ?? `${t.gpusPerNode} × ${t.gpuType}`;
}

function renderService(s: Service): string {
  const phases = (p: string) => s.replicas.filter((r) => r.phase === p).length;
  const head = renderKeyValues([
    ['ID', s.id],
    ['Name', `${s.name} (project ${s.project})`],
    ['URL', s.url ?? '(no workload proxy)'],
    ['Visibility', s.visibility],
    ['Revision', s.revision],
    ['Per replica', replicaGpus(s.spec.template)],
    ['Spread', s.spec.spread === 'none' ? 'none' : `${s.spec.spread} (over ${spreadOverText(s.spec.spreadOver)})`],
    [
      'Replicas',
      `${phases('ready')} ready, ${phases('starting')} starting, ${phases('draining')} draining; ${s.desiredReplicas} wanted`,
    ],
    ['Scaling', `${s.scaling.minReplicas}–${s.scaling.maxReplicas}, ${s.scaling.targetInFlightPerReplica} in flight per replica`],
    [
      'Traffic',
      `${s.traffic.requestsPerSecond.toFixed(1)} req/s, p50 ${ms(s.traffic.latencyP50Ms)}, p99 ${ms(s.traffic.latencyP99Ms)}, ${s.traffic.errors} errors of ${s.traffic.requests}, ${s.traffic.inFlight} in flight, ${s.traffic.queued} queued`,
    ],
  ]);
  if (!s.replicas.length) return head;
  return `${head}\n\n${renderTable(
    ['JOB', 'REVISION', 'PHASE', 'ENDPOINT'],
    s.replicas.map((r) => [r.jobId, r.revision, r.phase, r.endpoint ?? '-']),
  )}`;
}

function scalingOptions(c: Command): Command {
  return c
    .option('--replicas <n>', 'a fixed number of replicas', parseIntArg(0, 64))
    .option('--min <n>', 'fewest replicas (0: scale to zero when idle)', parseIntArg(0, 64))
    .option('--max <n>', 'most replicas', parseIntArg(1, 64))
    .option('--target <n>', 'in-flight requests per replica the autoscaler aims at', parseIntArg(1, 10_000))
    .option('--public', 'reachable with the service’s own API keys (gigafab service keys issue)')
    .option('--private', 'reachable with API tokens of the organisation only')
    .option('--spread <mode>', 'replicas on distinct nodes: preferred (default), required (wait for a free node) or none')
    .option(
      '--spread-over <domain>',
      'what replicas are kept apart by: node (default), unit (rack / leaf switch), site or label:<key> (a node label of the fleet file, e.g. label:power-domain)',
    );
}

export function registerService(program: Command, rt: Runtime): void {
  const service = program
    .command('service')
    .description('inference services: replicas of a job template behind the workload proxy, autoscaled')
    .addHelpText(
      'after',
      examples(
        'gigafab service create -f chat.yaml --min 1 --max 4',
        'gigafab service list',
        'gigafab service show svc-1a2b3c4d5e',
        'gigafab service update svc-1a2b3c4d5e -f chat-v2.yaml   # rolling update',
        'gigafab service delete svc-1a2b3c4d5e',
      ),
    );

  scalingOptions(
    service
      .command('create')
      .description('create a service from a YAML/JSON file (name, project, template, port, probes, scaling)')
      .requiredOption('-f, --file <path>', 'the service (`-` reads stdin)')
      .option('--name <name>', 'override the name')
      .option('--project <id>', 'override the project'),
  ).action(async (o: ScalingFlags & { file: string; name?: string; project?: string }, cmd: Command) => {
    const ctx = await makeCtx(cmd, rt);
    const body = {
      ...(await readJobFile(o.file)),
      ...(o.name ? { name: o.name } : {}),
      ...(o.project ? { project: o.project } : {}),
      ...scalingBody(o),
    };
    const { data } = await ctx.client.request<Service>('POST', '/v1/services', { body });
    if (ctx.json) return ctx.printJson(data);
    ctx.out(`service ${data.id} created (${data.name}); ${data.url ? `it answers at ${data.url}` : 'no workload proxy runs'}`);
  });

  service
    .command('list')
    .description("the organisation's services")
    .option('--project <id>', 'only this project')
    .action(async (o: { project?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: Service[] }>('GET', '/v1/services', {
        query: o.project ? { project: o.project } : {},
      });
      if (ctx.json) return ctx.printJson(data);
      if (!data.items.length) return ctx.out('no services');
      ctx.out(
        renderTable(
          ['ID', 'NAME', 'PROJECT', 'READY', 'WANTED', 'REQ/S', 'P99', 'URL'],
          data.items.map((s) => [
            s.id,
            s.name,
            s.project,
            s.replicas.filter((r) => r.phase === 'ready').length,
            s.desiredReplicas,
            s.traffic.requestsPerSecond.toFixed(1),
            ms(s.traffic.latencyP99Ms),
            s.url ?? '-',
          ]),
        ),
      );
    });

  service
    .command('show')
    .description('a service: replicas with their phase and endpoint, scaling, traffic (req/s, p50/p99, errors)')
    .argument('<id>', 'service id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<Service>('GET', `/v1/services/${encodeURIComponent(id)}`);
      if (ctx.json) return ctx.printJson(data);
      ctx.out(renderService(data));
    });

  scalingOptions(
    service
      .command('update')
      .description('change a service: a new template (-f) rolls its replicas; scaling flags apply at once')
      .argument('<id>', 'service id')
      .option('-f, --file <path>', 'a file with the fields to change (template, port, readiness, liveness, scaling)'),
  ).action(async (id: string, o: ScalingFlags & { file?: string }, cmd: Command) => {
    const ctx = await makeCtx(cmd, rt);
    const file = o.file ? await readJobFile(o.file) : {};
    const { name: _n, project: _p, ...fields } = file;
    const body = { ...fields, ...scalingBody(o) };
    if (Object.keys(body).length === 0) throw new CliError('nothing to change: give -f FILE or a scaling flag');
    const { data } = await ctx.client.request<Service>('PATCH', `/v1/services/${encodeURIComponent(id)}`, { body });
    if (ctx.json) return ctx.printJson(data);
    ctx.out(`service ${data.id} at revision ${data.revision}; ${data.desiredReplicas} replicas wanted`);
  });

  service
    .command('delete')
    .description('delete a service; its replicas drain and stop')
    .argument('<id>', 'service id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      await ctx.client.request('DELETE', `/v1/services/${encodeURIComponent(id)}`);
      if (ctx.json) return ctx.printJson({ id, deleted: true });
      ctx.out(`service ${id} deleted; its replicas drain and stop`);
    });

  const keys = service.command('keys').description("a public service's own API keys (the organisation's admins)");
  keys
    .command('issue')
    .argument('<id>', 'service id')
    .requiredOption('--name <name>', 'what the key is for')
    .description('issue a key (shown once)')
    .action(async (id: string, o: { name: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<ServiceApiKey & { key: string }>(
        'POST',
        `/v1/services/${encodeURIComponent(id)}/api-keys`,
        { body: { name: o.name } },
      );
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`key ${data.id} (${data.name}), shown only now:\n${data.key}`);
    });
  keys
    .command('list')
    .argument('<id>', 'service id')
    .description("the service's keys (never the keys themselves)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: ServiceApiKey[] }>(
        'GET',
        `/v1/services/${encodeURIComponent(id)}/api-keys`,
      );
      if (ctx.json) return ctx.printJson(data);
      ctx.out(
        renderTable(
          ['ID', 'NAME', 'CREATED', 'REVOKED'],
          data.items.map((k) => [k.id, k.name, k.createdAt, k.revokedAt ?? '-']),
        ),
      );
    });
  keys
    .command('revoke')
    .argument('<id>', 'service id')
    .argument('<key-id>', 'key id')
    .description('revoke a key; the proxy refuses it from now on')
    .action(async (id: string, keyId: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<ServiceApiKey>(
        'POST',
        `/v1/services/${encodeURIComponent(id)}/api-keys/${encodeURIComponent(keyId)}/revoke`,
      );
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`key ${data.id} revoked`);
    });
}
