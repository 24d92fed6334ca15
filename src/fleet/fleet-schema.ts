/** Zod schema of the fleet YAML; the loader validates every file against it. */
import { z } from 'zod';
import { DriverConfigSchema } from '../drivers/config.js';

/** A date (YYYY-MM-DD) or a date-time with zone; YAML dates are read as strings by the loader. */
const isoDate = z.preprocess(
  (v) => (v instanceof Date ? v.toISOString().slice(0, 10) : v),
  z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/, 'ISO 8601 date or date-time'),
);

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');

/** A MIG profile name as nvidia-smi prints it: `1g.23gb`, `1g.24gb+me`. */
export const MIG_PROFILE_NAME = /^[1-9][0-9]?g\.[1-9][0-9]{0,3}gb(\+me)?$/;

/** MIG geometry of a node type's GPUs: slices per GPU and the profiles (model/gpu-sharing.ts). */
const MigLayoutSchema = z
  .object({
    computeSlices: z.number().int().min(1).max(8),
    memorySlices: z.number().int().min(1).max(8),
    profiles: z
      .array(
        z
          .object({
            name: z.string().regex(MIG_PROFILE_NAME, 'a MIG profile name such as 1g.23gb'),
            computeSlices: z.number().int().min(1).max(8),
            memorySlices: z.number().int().min(1).max(8),
            memoryGiB: z.number().positive(),
            maxInstances: z.number().int().min(1).max(8),
          })
          .strict(),
      )
      .min(1),
  })
  .strict()
  .superRefine((l, ctx) => {
    for (const p of l.profiles) {
      if (p.computeSlices > l.computeSlices || p.memorySlices > l.memorySlices) {
        ctx.addIssue({ code: 'custom', message: `MIG profile ${p.name} needs more slices than the GPU has` });
      }
    }
    if (new Set(l.profiles.map((p) => p.name)).size !== l.profiles.length) {
      ctx.addIssue({ code: 'custom', message: 'MIG profile names must be unique' });
    }
  });

export const FleetSpecSchema = z
  .object({
    name: z.string().min(1),
    sites: z
      .array(
        z
          .object({
            id,
            name: z.string().min(1),
            city: z.string().min(1),
            country: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 country code'),
            certifications: z.array(z.string()).default([]),
            /** The legal entity operating the site and its country of establishment (residency rules). */
            operator: z
              .object({
                name: z.string().min(1),
                establishment: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 country code'),
              })
              .strict()
              .optional(),
            /** Dated attestations (BSI C5 Type 2, ISO/IEC 27001, ...); only current ones satisfy residency rules. */
            attestations: z
              .array(
                z
                  .object({
                    name: z.string().min(1),
                    validFrom: isoDate,
                    validUntil: isoDate,
                    issuer: z.string().min(1).optional(),
                  })
                  .strict()
                  .refine((a) => Date.parse(a.validFrom) < Date.parse(a.validUntil), 'validFrom must be before validUntil'),
              )
              .optional(),
            /** Which execution engine runs this site's jobs; absent: the simulated driver. */
            driver: DriverConfigSchema.optional(),
            /** Jobs may share GPUs here (time-sliced fractions, MIG instances); absent: they may not. */
            gpuSharing: z.boolean().optional(),
          })
          .strict(),
      )
      .min(1),
    nodeTypes: z
      .array(
        z
          .object({
            id,
            gpuType: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]*$/),
            gpusPerNode: z.number().int().min(1).max(16),
            gpuMemoryGiB: z.number().positive(),
            interconnect: z.enum(['nvlink', 'pcie']),
            cpus: z.number().int().positive(),
            memoryGiB: z.number().positive(),
            mig: MigLayoutSchema.optional(),
          })
          .strict(),
      )
      .min(1),
    pools: z
      .array(
        z
          .object({
            site: id,
            nodeType: id,
            count: z.number().int().min(1).max(200_000),
            unitSize: z.number().int().min(1).max(1024).default(32),
            namePrefix: id,
            labels: z.record(z.string(), z.string()).optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();
