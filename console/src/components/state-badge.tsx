/** StateBadge: a job state as a word with a shape-distinct marker; colour is only a second cue. */
import type { JobState } from '../api/types.js';

const MARK: Record<JobState, string> = {
  queued: '◷',
  running: '▶',
  succeeded: '✓',
  failed: '✕',
  cancelled: '⊘',
  'timed-out': '⌛',
};

export function StateBadge({ state }: { state: JobState }) {
  return (
    <span class={`badge state-${state}`}>
      <span aria-hidden="true">{MARK[state]} </span>
      {state}
    </span>
  );
}
