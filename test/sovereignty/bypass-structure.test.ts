/**
 * Bypass hunt, structural half: the control plane has exactly one way to put a job in the scheduler's
 * queue (enqueue, which applies the residency gate) plus the re-evaluation after a change, and every
 * start passes the residency re-check that writes the evidence. A new path that queues or starts
 * work without the gate fails here; the server tests exercise the paths themselves.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/server.js';

const src = readFileSync(join(REPO, 'src/server/control-plane.ts'), 'utf8');

/** body of the method `name` (from its signature to the next method at the same indent). */
function methodBody(name: string): string {
  const start = src.search(new RegExp(`\\n  (private |async |private async )?${name}\\(`));
  assert.ok(start >= 0, `method ${name} exists`);
  const next = src.slice(start + 1).search(/\n {2}(\/\*\*|private |async |[a-zA-Z]+\()/);
  return src.slice(start, next < 0 ? undefined : start + 1 + next);
}

test('queue insertions happen only in enqueue (through the gate) and reconstrainQueued', () => {
  const lines = src.split('\n');
  const sets = lines.map((l, i) => [l, i] as const).filter(([l]) => /this\.queue\.set\(/.test(l));
  assert.equal(sets.length, 2, sets.map(([l]) => l).join('\n'));
  assert.match(
    methodBody('enqueue'),
    /this\.queue\.set\(id, this\.residency \? this\.residency\.constrain\(job, spec, this\.now\(\)\) : job\)/,
  );
  assert.match(methodBody('reconstrainQueued'), /this\.queue\.set\(id, this\.residency\.constrain\(j, spec, now\)\)/);
  // toSchedJob (the raw, unconstrained job) is used only inside enqueue.
  const raw = lines.filter((l) => /toSchedJob\(/.test(l) && !/^function toSchedJob/.test(l));
  assert.equal(raw.length, 1, raw.join('\n'));
  assert.ok(methodBody('enqueue').includes('toSchedJob('));
  // Submission, recovery and requeue all enqueue.
  for (const m of ['submitJob', 'recover', 'requeue', 'afterNodeFailure'])
    assert.match(methodBody(m), /this\.enqueue\(/, `${m} enqueues`);
  // Every start writes the residency evidence in the start transaction or is refused.
  assert.match(methodBody('runCycle'), /await this\.residency\.recordStart\(trx,/);
  // (the start also counts the attempt: `.set((eb) => ({ state: 'running', ..., attempt: attempt + 1 }))`)
  const setsRunning = /\.set\((\(eb\) => \()?\{\s*state: 'running'/g;
  assert.match(methodBody('runCycle'), setsRunning);
  assert.equal((src.match(setsRunning) ?? []).length, 1, 'one place sets jobs running');
  // Submission admits through the gate before anything is written.
  const submit = methodBody('submitJob');
  assert.ok(submit.indexOf('this.residency?.admit(') < submit.indexOf('this.store.write('));
});
