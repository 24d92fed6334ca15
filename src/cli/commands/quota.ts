/**
 * gigafab quota set|list
 */
import type { Command } from 'commander';
import { examples, makeCtx, parseIntArg, type Runtime } from '../context.js';
import { renderQuotaTable } from './project.js';

export function registerQuota(program: Command, rt: Runtime): void {
  const quota = program
    .command('quota')
    .description("a project's GPU quota per GPU type (operators set them)")
    .addHelpText('after', examples('gigafab quota set robotics B200 64', 'gigafab quota list robotics'));

  quota
    .command('set')
    .description('set how many GPUs of a type a project may use at once')
    .argument('<project>', 'project id')
    .argument('<gpuType>', 'GPU type, e.g. B200')
    .argument('<gpus>', 'GPU limit (0 removes access)', parseIntArg(0, 1_000_000))
    .addHelpText('after', examples('gigafab quota set robotics B200 64', 'gigafab quota set robotics RTX-PRO-6000 0'))
    .action(async (project: string, gpuType: string, gpus: number, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const q = await ctx.client.setQuota(project, gpuType, gpus);
      if (ctx.json) ctx.printJson(q);
      else ctx.out(`quota for ${project} ${q.gpuType}: ${q.gpus} GPUs (${q.used} in use)`);
    });

  quota
    .command('list')
    .alias('ls')
    .description("list a project's quotas with usage")
    .argument('<project>', 'project id')
    .addHelpText('after', examples('gigafab quota list robotics'))
    .action(async (project: string, _opts: unknown, cmd: Command) => {
      const ctx = await makeCtx(cmd, rt);
      const p = await ctx.client.getProject(project);
      if (ctx.json) ctx.printJson(p.quotas);
      else if (p.quotas.length === 0) ctx.note(`project ${project} has no quotas`);
      else ctx.out(renderQuotaTable(p.quotas));
    });
}
