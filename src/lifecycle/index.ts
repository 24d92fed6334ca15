/** The job lifecycle (pure; see lifecycle.ts): run states, the preemptible rule, transitions and effects. */
export * from './lifecycle.js';
export * from './replicas.js';
export * from './run-state.js';
