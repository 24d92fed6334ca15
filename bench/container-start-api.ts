/**
 * The API side of the container start bench (container-start.ts): the real server with a one-node
 * `local` site (stand-in GPUs, gpuPassthrough none), a tenant, and one job at a time submitted over
 * HTTP. A sample is POST /v1/jobs → the job's first instruction (its printed clock, read back through
 * the logs API once the job has ended): the durable write, the wait for the next scheduling cycle
 * (the loop ticks every 250 ms when idle), the cycle, the hand-over and the driver's start.
 */
import { addLabTenant, startLocalSiteServer } from '../test/helpers/local-site.js';
import { api, type TestServer } from '../test/helpers/server.js';

export interface ApiSite {
  /** One job through the API; ms from POST to its first instruction, and to the 201. */
  sample(image: string | undefined, command: string[]): Promise<{ toFirstInstructionMs: number; acknowledgedMs: number }>;
  stop(): Promise<void>;
}

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startApiSite(clock: (log: string) => number | null): Promise<ApiSite> {
  const server: TestServer = await startLocalSiteServer('gigafab-bench-ctr-api-', 'gpuPassthrough: none');
  const token = await addLabTenant(api(server.url, server.operatorToken), { name: 'Bench', role: 'member' });
  const user = api(server.url, token);
  return {
    async sample(image, command) {
      const t0 = nowMs();
      const r = await user('POST', '/v1/jobs', {
        name: 'bench',
        project: 'lab-ml',
        gpuType: 'L4',
        gpusPerNode: 1,
        command,
        ...(image ? { image } : {}),
      });
      const acknowledged = nowMs();
      if (r.status !== 201) throw new Error(`submission failed: ${r.status} ${JSON.stringify(r.body)}`);
      const id: string = r.body.id;
      for (;;) {
        const j = (await user('GET', `/v1/jobs/${id}`)).body;
        if (j.state === 'succeeded') break;
        if (['failed', 'cancelled', 'timed-out'].includes(j.state)) throw new Error(`job ${id} ended ${j.state}`);
        await sleep(50);
      }
      const log = await (
        await fetch(`${server.url}/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${token}` } })
      ).text();
      const ts = clock(log);
      if (ts === null) throw new Error(`job ${id} printed no clock: ${log}`);
      return { toFirstInstructionMs: ts - t0, acknowledgedMs: acknowledged - t0 };
    },
    stop: () => server.stop(),
  };
}
