/** The pure parts of ssh keys and Slurm workload ports: key checks and fingerprints, NodeAddr, port choice. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SlurmDriverConfigSchema } from '../../src/drivers/config.js';
import { MASTER_PORTS, masterPort } from '../../src/drivers/rendezvous.js';
import { DEFAULT_WORKLOAD_PORTS, parseNodeAddr, pickWorkloadPort } from '../../src/drivers/slurm/workload-port.js';
import { DomainError } from '../../src/model/errors.js';
import { parseSshPublicKey } from '../../src/server/tenancy/ssh-keys.js';

test('a public key line: type, key data without the comment, and the fingerprint ssh-keygen prints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gigafab-sshkey-'));
  for (const [type, bits] of [
    ['ed25519', []],
    ['ecdsa', ['-b', '256']],
    ['rsa', ['-b', '2048']],
  ] as const) {
    const f = join(dir, type);
    execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', 'ada@laptop', '-f', f]);
    const line = readFileSync(`${f}.pub`, 'utf8');
    const k = parseSshPublicKey(line);
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(k.fingerprint, fp);
    assert.equal(k.comment, 'ada@laptop');
    assert.equal(k.line, line.trim().split(' ').slice(0, 2).join(' '));
    // The private key is refused, with a sentence that says so.
    assert.throws(
      () => parseSshPublicKey(readFileSync(f, 'utf8')),
      (e: DomainError) => /private key/.test(e.detail),
    );
  }
});

test('bad key lines are refused with ssh_key_invalid', () => {
  const bad = [
    '',
    'ssh-dss AAAAB3NzaC1kc3MAAACBAP',
    'command="/bin/sh" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBYrBQoJCem2WycYYcfNYT6H7aaIgykGgVLhWFWIMN2',
    'ssh-ed25519 not-base64!',
    // ssh-rsa data under an ed25519 label
    'ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQDx',
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBYrBQoJCem2WycYYcfNYT6H7aaIgykGgVLhWFWIMN2\nssh-ed25519 AAAA',
  ];
  for (const b of bad) {
    assert.throws(
      () => parseSshPublicKey(b),
      (e: DomainError) => e instanceof DomainError && e.code === 'ssh_key_invalid',
      b,
    );
  }
});

test("NodeAddr from scontrol's one-line node record", () => {
  const rec =
    'NodeName=gf01 Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 CPUTot=4 Gres=gpu:4 NodeAddr=10.1.2.3 NodeHostName=gf01 Version=22.05.8 State=IDLE';
  assert.equal(parseNodeAddr(rec), '10.1.2.3');
  assert.equal(parseNodeAddr('NodeName=x State=IDLE'), null);
});

test('workload ports: in the range, stable per job and attempt, never a taken one, never one in use on loopback', async () => {
  const range = { from: 43100, to: 43109 };
  const a = await pickWorkloadPort('812', 1, '10.0.0.5', new Set(), range);
  assert.ok(a >= range.from && a <= range.to);
  assert.equal(await pickWorkloadPort('812', 1, '10.0.0.5', new Set(), range), a);
  const b = await pickWorkloadPort('812', 1, '10.0.0.5', new Set([a]), range);
  assert.notEqual(b, a);
  // Someone listens on the loopback port the job would get: the next one is taken instead.
  const first = await pickWorkloadPort('7', 1, '127.0.0.1', new Set(), range);
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(first, '127.0.0.1', r));
  try {
    const next = await pickWorkloadPort('7', 1, '127.0.0.1', new Set(), range);
    assert.notEqual(next, first);
  } finally {
    srv.close();
  }
  const all = new Set(Array.from({ length: 10 }, (_, i) => range.from + i));
  await assert.rejects(pickWorkloadPort('7', 1, '10.0.0.5', all, range), /no free workload port/);
});

test("gangs' master ports and the workload ports never share a port: defaults apart, an overlapping site range refused", () => {
  // The kernel's ephemeral ports (the local driver's workload ports) start above the master ports too.
  assert.ok(MASTER_PORTS.from > DEFAULT_WORKLOAD_PORTS.to && MASTER_PORTS.to < 32768);
  for (let i = 0; i < 2000; i++) {
    const p = masterPort(`job-${i}`);
    assert.ok(p >= MASTER_PORTS.from && p <= MASTER_PORTS.to, `${p}`);
  }
  const site = { kind: 'slurm', jobDir: '/shared/jobs', nodeMap: {} };
  assert.deepEqual(SlurmDriverConfigSchema.parse({ ...site, workloadPorts: { from: 41000, to: 41999 } }).workloadPorts, {
    from: 41000,
    to: 41999,
  });
  assert.throws(
    () => SlurmDriverConfigSchema.parse({ ...site, workloadPorts: { from: 29000, to: 30000 } }),
    /must not overlap the gangs' master ports 30000-32767/,
  );
});
