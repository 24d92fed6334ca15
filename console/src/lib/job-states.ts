/** Job states and priority classes, taken from the server's model (the single source) at build time. */
import { PRIORITY_CLASSES, JOB_STATES as STATES, TERMINAL_STATES } from '../../../src/model/job.js';
import type { JobState, PriorityClass } from '../api/types.js';

export const JOB_STATES: readonly JobState[] = STATES;
export const PRIORITIES = Object.keys(PRIORITY_CLASSES) as PriorityClass[];
export const isTerminal = (s: JobState): boolean => TERMINAL_STATES.has(s);
