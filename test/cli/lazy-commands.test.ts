/**
 * The CLI loads command modules on demand (src/cli/program.ts, COMMAND_GROUPS): each top-level command must be
 * in exactly one group, and the group must register exactly the commands it names, or a call would meet a
 * command tree without its command (or help would miss one).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Runtime } from '../../src/cli/context.js';
import { buildProgram, COMMAND_GROUPS, groupsFor, run } from '../../src/cli/program.js';

function quietRuntime(): Runtime & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s) }, env: {}, interactive: false, out, err };
}

test('every top-level command belongs to exactly one group, and each group registers just its names', async () => {
  const all = (await buildProgram(quietRuntime(), [])).commands.map((c) => c.name());
  const named = COMMAND_GROUPS.flatMap((g) => g.names);
  assert.deepEqual([...named].sort(), [...all].sort());
  assert.equal(new Set(named).size, named.length, 'a command is named by two groups');
  for (const g of COMMAND_GROUPS) {
    const program = await buildProgram(quietRuntime(), [g.names[0] ?? '']);
    assert.deepEqual(
      program.commands.map((c) => c.name()),
      g.names,
    );
  }
});

test('the command word is found after global options, with or without their values', async () => {
  const names = async (argv: string[]) => (await groupsFor(argv)).flatMap((g) => g.names);
  assert.deepEqual(await names(['--url', 'http://x', '-o', 'json', 'job', 'show', '1']), ['job']);
  assert.deepEqual(await names(['--token=gf_x', '--verbose', 'fleet', 'show']), ['fleet']);
  assert.deepEqual(await names(['keys', 'rotate']), ['secret', 'keys', 'restriction', 'erasure']);
  assert.deepEqual(await names(['--version']), []);
  // No command, help, or a typo: everything, so help lists all commands and "did you mean" can suggest.
  assert.equal((await names([])).length, COMMAND_GROUPS.flatMap((g) => g.names).length);
  assert.equal((await names(['jbo'])).length, COMMAND_GROUPS.flatMap((g) => g.names).length);
});

test('a typo of a command still gets its suggestion, and job subcommands added by other modules are there', async () => {
  const rt = quietRuntime();
  assert.notEqual(await run(['jbo', 'list'], rt), 0);
  assert.match(rt.err.join(''), /job/);
  const job = (await buildProgram(quietRuntime(), ['job'])).commands.find((c) => c.name() === 'job');
  assert.ok(
    job?.commands.some((c) => c.name() === 'checkpoint'),
    'job checkpoint (scheduling.ts) is registered',
  );
  const version = quietRuntime();
  assert.equal(await run(['--version'], version), 0);
  assert.match(version.out.join(''), /^0\.1\.0/);
});
