/**
 * Bypass hunt, structural half: the control plane has exactly one way to put a job in the scheduler's
 * queue (SchedulingState.enqueue, which applies the residency gate) plus the re-evaluation after a
 * change, and every start passes the residency re-check that writes the evidence. A new path that
 * queues or starts work without the gate fails here; the server tests exercise the paths themselves.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/server.js';

const SERVER = join(REPO, 'src/server');
const read = (rel: string) => readFileSync(join(SERVER, rel), 'utf8');
/** Every .ts file under src/server, by path relative to it. */
const files: [string, string][] = readdirSync(SERVER, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => [f, read(f)]);

/** body of the method or function `name` in `src` (from its signature line to the next member at the same indent). */
function body(src: string, name: string): string {
  const m = new RegExp(`\\n( *)(export )?(private |async |private async |function |async function )?${name}\\(`).exec(src);
  assert.ok(m, `${name} exists`);
  const start = m.index + 1;
  const lineEnd = src.indexOf('\n', start);
  const next = src.slice(lineEnd).search(new RegExp(`\\n${m[1]}(/\\*\\*|private |async |export |function |[a-zA-Z]+\\()`));
  return src.slice(start, next < 0 ? undefined : lineEnd + next);
}

test('queue insertions happen only in enqueue (through the gate) and reconstrainQueued', () => {
  const state = read('cycle/scheduling-state.ts');
  const sets = files.flatMap(([f, s]) =>
    s
      .split('\n')
      .filter((l) => /\bqueue\.set\(/.test(l))
      .map((l) => `${f}: ${l}`),
  );
  assert.equal(sets.length, 2, sets.join('\n'));
  assert.match(
    body(state, 'enqueue'),
    /this\.queue\.set\(id, this\.residency \? this\.residency\.constrain\(job, spec, this\.now\(\)\) : job\)/,
  );
  assert.match(
    body(state, 'reconstrainQueued'),
    /this\.queue\.set\(id, this\.residency \? this\.residency\.constrain\(runnable, spec, now\) : runnable\)/,
  );
  // toSchedJob (the raw, unconstrained job) is used only inside enqueue.
  const raw = files.flatMap(([, s]) => s.split('\n').filter((l) => /toSchedJob\(/.test(l) && !/^function toSchedJob/.test(l)));
  assert.equal(raw.length, 1, raw.join('\n'));
  assert.ok(body(state, 'enqueue').includes('toSchedJob('));
  // Submission, recovery and requeue all enqueue.
  assert.match(body(read('jobs/job-service.ts'), 'submit'), /this\.d\.cycle\.enqueue\(/, 'submission enqueues');
  assert.match(read('cycle/recover.ts'), /state\.enqueue\(id, row, spec\)/, 'recovery enqueues');
  const observations = read('cycle/observations.ts');
  for (const m of ['requeue', 'afterNodeFailure']) assert.match(body(observations, m), /ctx\.state\.enqueue\(/, `${m} enqueues`);
  // Every start writes the residency evidence in the start transaction or is refused.
  const persist = read('cycle/commit-starts.ts');
  assert.match(persist, /await ctx\.residency\.recordStart\(trx,/);
  // (the start also counts the attempt: `.set((eb) => ({ state: 'running', ..., attempt: attempt + 1 }))`)
  const setsRunning = /\.set\((\(eb\) => \()?\{\s*state: 'running'/g;
  assert.match(persist, setsRunning);
  const everywhere = files.reduce((n, [, s]) => n + (s.match(setsRunning) ?? []).length, 0);
  assert.equal(everywhere, 1, 'one place sets jobs running');
  // Submission admits through the gate before anything is written.
  assert.match(read('jobs/submission.ts'), /r\.residency\?\.admit\(/);
  const submit = body(read('jobs/job-service.ts'), 'submit');
  assert.ok(submit.indexOf('checkSubmission(') >= 0 && submit.indexOf('checkSubmission(') < submit.indexOf('store.write('));
});
