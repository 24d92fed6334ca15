/**
 * EstimatePanel: what the job in the submit form could cost (POST /v1/jobs/estimate: its whole time
 * limit on all its GPUs at the price in effect now; nothing is stored), asked again 400 ms after the
 * form last changed, and what the organisation's and the project's budgets would do with it: fit,
 * refuse (policy refuse: admission answers 422 budget_exhausted) or hold it until budget frees (wait).
 * Admission decides; this is the same arithmetic on the figures the API shows now.
 */
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api/client.js';
import type { Budget, BudgetList, CostEstimate, JobSpecInput } from '../api/types.js';
import { fmtDuration, fmtEur } from '../lib/format.js';
import { problemText } from '../lib/problem.js';

interface Outcome {
  estimate: CostEstimate;
  budgets: Budget[];
}

export function EstimatePanel({ org, spec }: { org: string; spec: JobSpecInput }) {
  const key = JSON.stringify({ ...spec, name: spec.name || 'estimate' });
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    const timer = setTimeout(() => {
      Promise.all([
        post<CostEstimate>('/v1/jobs/estimate', JSON.parse(key)),
        get<BudgetList>(`/v1/orgs/${encodeURIComponent(org)}/budgets`),
      ]).then(
        ([estimate, list]) => {
          if (!alive) return;
          setOutcome({ estimate, budgets: list.items });
          setError(null);
        },
        (err: unknown) => {
          if (!alive) return;
          setOutcome(null);
          setError(problemText(err));
        },
      );
    }, 400);
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [key, org]);
  if (error) {
    return (
      <p class="muted" data-testid="estimate" role="status">
        No estimate yet: {error}
      </p>
    );
  }
  if (!outcome) return null;
  const { estimate: e, budgets } = outcome;
  const over = budgets.filter((b) => b.project === undefined || b.project === spec.project);
  const verdicts = over.map((b) => {
    const name = b.project ? `Project ${b.project}'s budget` : `Organisation ${b.org}'s budget`;
    const left = `${fmtEur(Math.max(0, b.remainingCents))} left of ${fmtEur(b.capCents)} for ${b.month}`;
    if (e.cost <= b.remainingCents) return { blocked: false, text: `${name} has ${left}: the job fits.` };
    const then =
      b.policy === 'refuse'
        ? 'the job would be refused (policy refuse)'
        : 'the job would be queued and wait until budget frees (policy wait)';
    return { blocked: true, text: `${name} has ${left}: ${then}.` };
  });
  const blocked = verdicts.some((v) => v.blocked);
  return (
    <div class={`budget-outcome${blocked ? ' blocked' : ''}`} data-testid="estimate" data-blocked={blocked} role="status">
      <p>
        <strong>Estimate: {fmtEur(e.cost)}</strong> for {e.gpus} {e.gpuType} GPU{e.gpus === 1 ? '' : 's'} ({e.class}) ×{' '}
        {fmtDuration(e.maxRuntimeSeconds)} at {fmtEur(e.centsPerGpuHour)} per GPU-hour (price version {e.priceVersion}, billed per{' '}
        {e.granularity}), if it runs its whole time limit.
      </p>
      {verdicts.map((v) => (
        <p key={v.text} data-testid="budget-verdict">
          {v.text}
        </p>
      ))}
    </div>
  );
}
