/** cycleText: which scheduling cycle an answer describes, as `job explain` prints it. */
import type { SchedulingCycleView } from '../model/schemas.js';
import { formatDuration } from './output.js';

/** "scheduling cycle 12 (04:51:07 UTC, 3s ago)"; with several replicas, the leader's term too. */
export function cycleText(c: SchedulingCycleView, now: number): string {
  const at = new Date(c.startedAt);
  const clock = at.toISOString().slice(11, 19);
  const ago = formatDuration(Math.max(0, (now - at.getTime()) / 1000));
  const term = c.term !== undefined ? ` of leader term ${c.term}` : '';
  return `scheduling cycle ${c.number}${term} (${clock} UTC, ${ago} ago)`;
}
