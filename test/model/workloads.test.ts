/** Workload kinds in the JobSpec: defaults, the session rules with their messages, the port helpers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PRIORITY_CLASSES } from '../../src/model/job.js';
import { JobSpecSchema } from '../../src/model/schemas.js';
import { sessionTimeLimitMissing } from '../../src/model/schemas-workloads.js';
import { containerPort, exposesPort, idleTimeoutMs, kindOf } from '../../src/model/workloads.js';

const base = { name: 'nb', project: 'robotics', command: ['true'] };
const messages = (input: unknown) => {
  const r = JobSpecSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('JobSpec workload kinds', () => {
  test('a spec without kind is a batch job and exposes no port', () => {
    const spec = JobSpecSchema.parse(base);
    assert.equal(kindOf(spec), 'batch');
    assert.equal(exposesPort(spec), false);
  });

  test('a Jupyter session needs no command; in an image it listens on 8888 unless it names a port', () => {
    const host = JobSpecSchema.parse({ name: 'nb', project: 'robotics', kind: 'session', session: { preset: 'jupyter' } });
    assert.equal(exposesPort(host), true);
    assert.equal(containerPort(host), undefined, 'a host process listens on $GIGAFAB_PORT');
    const img = JobSpecSchema.parse({ ...host, image: 'quay.io/jupyter/base-notebook:2025' });
    assert.equal(containerPort(img), 8888);
    assert.equal(containerPort({ ...img, session: { preset: 'http', port: 9000 } }), 9000);
  });

  test('idle timeout in minutes, fractions allowed', () => {
    const s = JobSpecSchema.parse({ ...base, kind: 'session', session: { preset: 'http', idleTimeoutMinutes: 0.5 } });
    assert.equal(idleTimeoutMs(s), 30_000);
    assert.equal(idleTimeoutMs(JobSpecSchema.parse(base)), null);
  });

  test('clear errors for inconsistent sessions', () => {
    assert.deepEqual(messages({ ...base, session: { preset: 'http' } }), ['session: session settings need `kind: session`']);
    assert.deepEqual(messages({ ...base, kind: 'session' }), [
      'session: a session needs `session: { preset: jupyter | http | ssh }`',
    ]);
    assert.deepEqual(messages({ ...base, kind: 'session', nodes: 2, session: { preset: 'http' } }), [
      'nodes: a session runs on one node',
    ]);
    assert.deepEqual(messages({ ...base, kind: 'session', session: { preset: 'http', port: 8080 } }), [
      'session.port: a port is for a session in an image; a host process listens on $GIGAFAB_PORT',
    ]);
    assert.deepEqual(messages({ name: 'x', project: 'robotics', kind: 'session', session: { preset: 'http' } }), [
      'command: an http session needs a command or an image',
    ]);
    assert.deepEqual(messages({ name: 'x', project: 'robotics', kind: 'session', session: { preset: 'ssh' } }), []);
    assert.deepEqual(messages({ ...base, kind: 'session', session: { preset: 'ssh' } }), [
      'command: an ssh session runs sshd: it takes no command',
    ]);
    // In an image the preset runs the image's own sshd.
    assert.deepEqual(
      messages({ name: 'x', project: 'robotics', image: 'localhost/x', kind: 'session', session: { preset: 'ssh' } }),
      [],
    );
    assert.deepEqual(
      messages({ name: 'x', project: 'robotics', kind: 'session', session: { preset: 'ssh', stateDataset: '../x' } }),
      ['session.stateDataset: a dataset id'],
    );
    assert.equal(messages({ ...base, kind: 'session', session: { preset: 'vnc' } }).length, 1);
    assert.equal(messages({ ...base, kind: 'lambda' }).length, 1);
  });

  test('priority class interactive ranks between normal and high', () => {
    assert.ok(PRIORITY_CLASSES.interactive > PRIORITY_CLASSES.normal && PRIORITY_CLASSES.interactive < PRIORITY_CLASSES.high);
    assert.equal(JobSpecSchema.parse({ ...base, priorityClass: 'interactive' }).priorityClass, 'interactive');
  });

  test('a session states its time limit; a batch job may rely on the default', () => {
    const session = { ...base, kind: 'session', session: { preset: 'http' } };
    assert.match(sessionTimeLimitMissing(session)?.message ?? '', /a session needs a time limit: set maxRuntimeSeconds/);
    assert.equal(sessionTimeLimitMissing({ ...session, maxRuntimeSeconds: 3600 }), null);
    assert.equal(sessionTimeLimitMissing(base), null);
  });
});
