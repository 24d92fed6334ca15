/**
 * Job endpoints: where a running session's or service's port is reached (the driver's `started`
 * observation). Kept in memory on the running job (RunningJob.endpoint, what the proxy reads) and in
 * job_endpoints (migration 020) so a restarted control plane knows them; written in the transaction
 * that records the start event and deleted in the one that takes the job out of `running`.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Endpoint } from '../../model/workloads.js';
import type { Database } from '../../store/schema.js';

/** recordEndpoint: the endpoint of a job's current run (replaces one of an earlier run). */
export async function recordEndpoint(trx: Transaction<Database>, jobId: string, endpoint: Endpoint, at: string): Promise<void> {
  const job = await trx.selectFrom('jobs').select('attempt').where('id', '=', Number(jobId)).executeTakeFirst();
  const row = { job_id: Number(jobId), attempt: job?.attempt ?? 1, host: endpoint.host, port: endpoint.port, reported_at: at };
  await trx
    .insertInto('job_endpoints')
    .values(row)
    .onConflict((oc) =>
      oc.column('job_id').doUpdateSet({ attempt: row.attempt, host: row.host, port: row.port, reported_at: at }),
    )
    .execute();
}

/** clearEndpoint: the job left `running` (ended, requeued): nothing serves there any more. */
export async function clearEndpoint(trx: Transaction<Database>, jobId: string): Promise<void> {
  await trx.deleteFrom('job_endpoints').where('job_id', '=', Number(jobId)).execute();
}

/** loadEndpoints: the stored endpoints of running jobs' current runs (recovery after a restart). */
export async function loadEndpoints(db: Kysely<Database>): Promise<Map<string, Endpoint>> {
  const rows = await db
    .selectFrom('job_endpoints')
    .innerJoin('jobs', 'jobs.id', 'job_endpoints.job_id')
    .select(['job_endpoints.job_id', 'job_endpoints.host', 'job_endpoints.port'])
    .where('jobs.state', '=', 'running')
    .whereRef('jobs.attempt', '=', 'job_endpoints.attempt')
    .execute();
  return new Map(rows.map((r) => [String(r.job_id), { host: r.host, port: r.port }]));
}
