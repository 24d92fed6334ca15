/**
 * JobSpec schemas of workload kinds (model/workloads.ts): `kind`, a session's settings, and the
 * cross-field rules (checkWorkloadSpec) that JobSpecSchema runs after its fields parsed.
 */
import { z } from '@hono/zod-openapi';
import { SPREAD_LABEL_PATTERN } from './spread.js';
import { SESSION_PRESETS, WORKLOAD_KINDS } from './workloads.js';

export const WorkloadKindSchema = z.enum(WORKLOAD_KINDS).openapi({
  description:
    '`batch` (default) runs to completion; `session` is interactive (Jupyter, any HTTP port, SSH) and `service` an endpoint, both reached through the workload proxy',
});

export const SessionSpecSchema = z
  .strictObject({
    preset: z.enum(SESSION_PRESETS).openapi({
      description:
        '`jupyter`: Jupyter Notebook (command and image optional); `http`: your command serves HTTP on $GIGAFAB_PORT (or `port` in its image); `ssh`: an SSH server with the keys of your profile (no command; in an image, the image’s own /usr/sbin/sshd), reached with `gigafab session ssh`',
    }),
    port: z.number().int().min(1).max(65535).optional().openapi({
      description: 'With `image`: the port the session listens on inside it. Host processes listen on $GIGAFAB_PORT',
    }),
    idleTimeoutMinutes: z
      .number()
      .min(0.05)
      .max(7 * 24 * 60)
      .optional()
      .openapi({ description: 'Stop the session after this long without proxied traffic (a warning event comes first)' }),
    stateDataset: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a dataset id')
      .optional()
      .openapi({
        description:
          "A writable dataset of the session's project kept as its working directory (Jupyter's notebook root, the ssh login's home): what a session saves there is there in the next one. The session runs only at the dataset's home site",
        example: 'ds_3f9a2b1c4d5e',
      }),
  })
  .openapi('SessionSpec');

export const ServiceJobSchema = z
  .strictObject({
    id: z.string().max(64).openapi({ description: 'The service this job is a replica of (set by the control plane)' }),
    port: z.number().int().min(1).max(65535).optional().openapi({
      description: 'With `image`: the port the replica listens on inside it. Host processes listen on $GIGAFAB_PORT',
    }),
    spread: z.enum(['preferred', 'required']).optional().openapi({
      description: "Keep off nodes that run another replica of the service (the service's `spread`; set by the control plane)",
    }),
    spreadOver: z
      .union([z.enum(['unit', 'site']), z.string().regex(SPREAD_LABEL_PATTERN) as z.ZodType<`label:${string}`, string>])
      .optional()
      .openapi({
        description:
          "Keep off the scalable units, sites or node-label values that run another replica (the service's `spreadOver`; set by the control plane)",
      }),
  })
  .openapi('ServiceJob');

/** The fields checkWorkloadSpec reads (JobSpecSchema's output). */
interface WorkloadFields {
  kind?: (typeof WORKLOAD_KINDS)[number];
  session?: z.infer<typeof SessionSpecSchema>;
  service?: z.infer<typeof ServiceJobSchema>;
  image?: string;
  command?: string[];
  nodes: number;
}

/** checkWorkloadSpec: the rules between `kind`, `session` and the rest of a JobSpec, with clear messages. */
export function checkWorkloadSpec(spec: WorkloadFields, ctx: z.RefinementCtx): void {
  const issue = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const kind = spec.kind ?? 'batch';
  if (spec.session && kind !== 'session') issue(['session'], 'session settings need `kind: session`');
  if (spec.service && kind !== 'service') issue(['service'], 'service settings need `kind: service`');
  if (kind === 'service' && spec.nodes > 1) issue(['nodes'], 'a service replica runs on one node');
  if (kind !== 'session') return;
  if (!spec.session) {
    issue(['session'], 'a session needs `session: { preset: jupyter | http | ssh }`');
    return;
  }
  if (spec.nodes > 1) issue(['nodes'], 'a session runs on one node');
  const { preset, port } = spec.session;
  if (preset === 'ssh' && spec.command?.length) issue(['command'], 'an ssh session runs sshd: it takes no command');
  if (port !== undefined && !spec.image) {
    issue(['session', 'port'], 'a port is for a session in an image; a host process listens on $GIGAFAB_PORT');
  }
  if (preset === 'http' && !spec.image && !spec.command?.length)
    issue(['command'], 'an http session needs a command or an image');
}

/**
 * sessionTimeLimitMissing: a session must say how long it may run — its input (before defaults)
 * needs an explicit maxRuntimeSeconds (a batch job's default of a day would be a silent choice for a
 * GPU someone forgets). Checked on the raw input, where the default is not yet filled in.
 */
export function sessionTimeLimitMissing(input: unknown): { path: string; message: string } | null {
  if (typeof input !== 'object' || input === null || !('kind' in input) || input.kind !== 'session') return null;
  if ('maxRuntimeSeconds' in input && input.maxRuntimeSeconds !== undefined) return null;
  return { path: 'maxRuntimeSeconds', message: 'a session needs a time limit: set maxRuntimeSeconds (e.g. 14400 for 4 hours)' };
}
