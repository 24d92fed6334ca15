/** Table type of migration 020 (the endpoint of a running session or service). */

export interface JobEndpointsTable {
  job_id: number;
  /** The run (jobs.attempt) the endpoint belongs to. */
  attempt: number;
  host: string;
  port: number;
  reported_at: string;
}
