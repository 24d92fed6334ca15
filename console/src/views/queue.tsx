/**
 * Operator view: pending jobs grouped by why they wait (pending reason code), largest group first.
 * The scheduler's explanation (place in queue, expected start) is read for a bounded set of jobs:
 * the first job of every group, and the listed jobs (at most 20) of the groups opened.
 */
import { useState } from 'preact/hooks';
import { get } from '../api/client.js';
import type { JobExplanation, QueueSummary } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtInt, fmtUntil } from '../lib/format.js';
import { Link } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

const PER_GROUP = 20;
const MAX_EXPLAINED = 100;
const CONCURRENCY = 6;

/** explainAll reads the explanations of `ids`, a few at a time; a job that fails is left out. */
async function explainAll(ids: string[]): Promise<Map<string, JobExplanation>> {
  const out = new Map<string, JobExplanation>();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        out.set(id, await get<JobExplanation>(`/v1/jobs/${encodeURIComponent(id)}/explain`));
      } catch {
        // Started or gone since the summary was read: nothing to show for it.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ids.length) }, worker));
  return out;
}

function Eta({ e }: { e: JobExplanation | undefined }) {
  if (!e) return null;
  return (
    <span class="eta" data-testid="queue-eta">
      {e.position !== null && <>#{e.position} · </>}
      {e.expectedStart ? `starts ${fmtUntil(e.expectedStart)}` : 'start unknown'}
    </span>
  );
}

export function QueueView() {
  const { data, error } = usePoll(() => get<QueueSummary>(`/v1/queue/summary?limit=${PER_GROUP}`), 5000);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const ids: string[] = [];
  for (const g of data?.groups ?? []) {
    for (const j of open.has(g.code) ? g.jobs.slice(0, PER_GROUP) : g.jobs.slice(0, 1)) ids.push(j.id);
  }
  const key = ids.slice(0, MAX_EXPLAINED).join(',');
  const { data: explained } = usePoll(() => explainAll(key ? key.split(',') : []), 10_000, [key]);
  const toggle = (code: string, isOpen: boolean) =>
    setOpen((s) => {
      const n = new Set(s);
      if (isOpen) n.add(code);
      else n.delete(code);
      return n;
    });

  return (
    <>
      <h1>Queue</h1>
      <ErrorLine message={error} />
      {data && (
        <p data-testid="queue-total">
          {fmtInt(data.total)} job{data.total === 1 ? '' : 's'} waiting.
        </p>
      )}
      {data && data.groups.length > 0 && (
        <table class="data">
          <caption class="sr-only">Pending jobs by reason</caption>
          <thead>
            <tr>
              <th scope="col">Reason</th>
              <th scope="col" class="num">
                Jobs
              </th>
              <th scope="col" class="num">
                GPUs asked for
              </th>
              <th scope="col">Next to start</th>
              <th scope="col">Oldest jobs</th>
            </tr>
          </thead>
          <tbody>
            {data.groups.map((g) => {
              const first = g.jobs[0];
              return (
                <tr key={g.code} data-reason={g.code}>
                  <th scope="row">
                    <code>{g.code}</code>
                  </th>
                  <td class="num">{fmtInt(g.count)}</td>
                  <td class="num">{fmtInt(g.gpus)}</td>
                  <td class="nowrap">
                    {first && (
                      <>
                        <Link href={`/jobs/${first.id}`}>job {first.id}</Link> <Eta e={explained?.get(first.id)} />
                      </>
                    )}
                  </td>
                  <td>
                    <details onToggle={(ev) => toggle(g.code, (ev.currentTarget as HTMLDetailsElement).open)}>
                      <summary>{first?.message ?? ''}</summary>
                      <ul class="plain">
                        {g.jobs.map((j) => (
                          <li key={j.id} data-job-id={j.id}>
                            <Link href={`/jobs/${j.id}`}>job {j.id}</Link> · {j.org}/{j.project} · {fmtInt(j.gpus)}{' '}
                            {j.gpuType ?? 'any'} — {j.message} <Eta e={explained?.get(j.id)} />
                          </li>
                        ))}
                      </ul>
                    </details>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
