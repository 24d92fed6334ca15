/** gigafab ssh-key add | list | remove — the SSH public keys of your profile, which your `ssh` sessions authorise. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { SshKey } from '../../model/ssh-key-schemas.js';
import { CliError, examples, makeCtx, type Runtime } from '../context.js';
import { renderTable } from '../output.js';

async function readKey(file: string): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function registerSshKey(program: Command, rt: Runtime): void {
  const key = program
    .command('ssh-key')
    .description('SSH public keys in your profile: `ssh` sessions you start authorise exactly these')
    .addHelpText(
      'after',
      examples('gigafab ssh-key add ~/.ssh/id_ed25519.pub', 'gigafab ssh-key list', 'gigafab ssh-key remove sshk_3f9a…'),
    );

  key
    .command('add')
    .description('add a public key (an .pub file, or - for standard input); audited')
    .argument('<file>', 'the public key file (never the private key)')
    .option('--name <name>', "a label (default: the key's comment)")
    .action(async (file: string, o: { name?: string }, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const publicKey = (await readKey(file)).trim();
      const { data } = await ctx.client.request<SshKey>('POST', '/v1/ssh-keys', {
        body: { publicKey, ...(o.name ? { name: o.name } : {}) },
      });
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`added ${data.type} key ${data.fingerprint} (${data.name}) as ${data.id}`);
    });

  key
    .command('list')
    .description('your keys')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<{ items: SshKey[] }>('GET', '/v1/ssh-keys');
      if (ctx.json) return ctx.printJson(data);
      if (!data.items.length) return ctx.out('no SSH keys: add one with `gigafab ssh-key add ~/.ssh/id_ed25519.pub`');
      ctx.out(
        renderTable(
          ['ID', 'NAME', 'TYPE', 'FINGERPRINT', 'ADDED'],
          data.items.map((k) => [k.id, k.name, k.type, k.fingerprint, k.createdAt]),
        ),
      );
    });

  key
    .command('remove')
    .description('remove one of your keys (by id or SHA256 fingerprint); running sessions keep the keys they started with')
    .argument('<id>', 'the key id or fingerprint')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const { data } = await ctx.client.request<SshKey>('DELETE', `/v1/ssh-keys/${encodeURIComponent(id)}`);
      if (ctx.json) return ctx.printJson(data);
      ctx.out(`removed ${data.type} key ${data.fingerprint} (${data.name})`);
    });
}
