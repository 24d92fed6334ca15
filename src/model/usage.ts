/**
 * Metered usage: the classes a run segment is billed under, the dimensions a usage report groups
 * by, the report's schema (the API validates and documents with it, the CLI and console read it)
 * and its CSV form, shared by the API's `format=csv` and `gigafab usage --csv`.
 */
import { z } from '@hono/zod-openapi';
import { toCsv } from './csv.js';
import { PRIORITY_CLASSES } from './job.js';
import type { WorkloadKind } from './workloads.js';

/**
 * How a run segment is billed: on-demand capacity, the preemptible class, borrowed quota, an
 * interactive session (notebooks, remote workstations) or a service replica (inference endpoints).
 */
export const USAGE_CLASSES = ['on-demand', 'preemptible', 'borrowed', 'interactive', 'service'] as const;
export type UsageClass = (typeof USAGE_CLASSES)[number];

/**
 * PRICE_FALLBACK: the class whose price a class is billed at while a price version sets none of its
 * own. Sessions and service replicas hold GPUs like on-demand jobs do, so an operator who has not
 * priced them separately bills them at the on-demand price, never for nothing.
 */
export const PRICE_FALLBACK: Readonly<Partial<Record<UsageClass, UsageClass>>> = {
  interactive: 'on-demand',
  service: 'on-demand',
};

/**
 * usageClass: borrowed capacity is its own class whatever the priority or kind (its lender may take
 * it back); then a session is `interactive` and a service replica `service`; otherwise the job's
 * priority class decides (the lifecycle's preemptible threshold).
 */
export function usageClass(priority: number, borrowed: boolean, kind: WorkloadKind = 'batch'): UsageClass {
  if (borrowed) return 'borrowed';
  if (kind === 'session') return 'interactive';
  if (kind === 'service') return 'service';
  return priority <= PRIORITY_CLASSES.preemptible ? 'preemptible' : 'on-demand';
}

/** What a usage report can group by; `day` is the UTC calendar day. */
export const USAGE_GROUPS = ['org', 'project', 'gpuType', 'site', 'class', 'day'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** The longest period one report covers. */
export const MAX_USAGE_PERIOD_DAYS = 400;

/**
 * The most rows (groups) one report answers, JSON and CSV alike: a grouping finer than that (every
 * project × type × site × class × day of a large fleet over a year) is refused with 422
 * `usage_report_too_large`, to be asked for a shorter period or a coarser grouping.
 */
export const MAX_USAGE_ROWS = 100_000;

export const UsageRowSchema = z
  .object({
    org: z.string().optional(),
    project: z.string().optional(),
    gpuType: z.string().optional(),
    site: z.string().optional(),
    class: z.enum(USAGE_CLASSES).optional(),
    day: z.string().optional().openapi({ description: 'UTC day, YYYY-MM-DD' }),
    gpuSeconds: z.number().openapi({ description: 'GPU-seconds inside the period (open segments up to now)' }),
    gpuHours: z.number(),
    segments: z.number().int().openapi({ description: 'Run segments that contributed' }),
    openSegments: z.number().int().openapi({ description: 'Of those, still running' }),
    cost: z.number().int().openapi({
      description: 'EUR cents: the run time rounded up to the billing granularity, at the price in effect at each instant',
    }),
    unpricedGpuSeconds: z.number().openapi({ description: 'Billed GPU-seconds with no price in effect (not in `cost`)' }),
    itKwh: z.number().openapi({
      description:
        'Energy at the GPUs of the run time inside the period, kWh: measured where the driver measured it (spread over the run), the power model elsewhere',
    }),
    measuredKwh: z.number().openapi({ description: 'The part of itKwh that was measured' }),
    coveredGpuSeconds: z.number().optional().openapi({
      description:
        "Billed GPU-seconds the organisation's reserved capacity covered, by the invoice's rule (present when a commitment falls in the period)",
    }),
    netCost: z.number().int().optional().openapi({
      description:
        'EUR cents: `cost` less the covered time at its list price, what the invoice bills for the usage (present when a commitment falls in the period)',
    }),
  })
  .openapi('UsageRow');

export const UsageReservationSchema = z
  .object({
    org: z.string(),
    gpuType: z.string(),
    month: z.string().openapi({ description: 'The commitment’s month, YYYY-MM' }),
    gpus: z.number().int(),
    centsPerGpuMonth: z.number().int(),
    from: z.string().openapi({ description: 'The month clipped to the report’s period: start' }),
    to: z.string(),
    amountCents: z.number().int().openapi({
      description:
        'gpus × centsPerGpuMonth prorated to [from, to) by time, rounded to the cent (a whole month: the invoice’s amount)',
    }),
    coveredGpuSeconds: z.number().openapi({ description: 'Billed GPU-seconds it covered in [from, to)' }),
  })
  .openapi('UsageReservation');

export const UsageReportSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    groupBy: z.array(z.enum(USAGE_GROUPS)),
    items: z.array(UsageRowSchema),
    total: z.object({
      gpuSeconds: z.number(),
      gpuHours: z.number(),
      segments: z.number().int(),
      cost: z.number().int().openapi({ description: "EUR cents, the sum of the groups' costs" }),
      unpricedGpuSeconds: z.number(),
      itKwh: z.number().openapi({ description: "The groups' itKwh added up" }),
      measuredKwh: z.number(),
      coveredGpuSeconds: z.number().optional(),
      netCost: z.number().int().optional().openapi({ description: "EUR cents, the sum of the groups' net costs" }),
    }),
    reservedCapacity: z.array(UsageReservationSchema).optional().openapi({
      description:
        'Reserved-capacity commitments of months the period touches (absent where there is none); their fees are not in `cost` or `netCost`',
    }),
  })
  .openapi('UsageReport', {
    example: {
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-12-01T00:00:00.000Z',
      groupBy: ['project'],
      items: [
        {
          project: 'robotics',
          gpuSeconds: 921600,
          gpuHours: 256,
          segments: 3,
          openSegments: 0,
          cost: 115200,
          unpricedGpuSeconds: 0,
          itKwh: 256,
          measuredKwh: 0,
        },
      ],
      total: { gpuSeconds: 921600, gpuHours: 256, segments: 3, cost: 115200, unpricedGpuSeconds: 0, itKwh: 256, measuredKwh: 0 },
    },
  });
export type UsageRow = z.infer<typeof UsageRowSchema>;
export type UsageReport = z.infer<typeof UsageReportSchema>;
export type UsageReservation = z.infer<typeof UsageReservationSchema>;

/** usageCsv: one line per group, the group's columns first (in `groupBy` order); coverage columns where the report has them. */
export function usageCsv(report: Pick<UsageReport, 'groupBy' | 'items' | 'reservedCapacity'>): string {
  const columns = [
    ...report.groupBy,
    'gpuSeconds',
    'gpuHours',
    'segments',
    'openSegments',
    'cost',
    'unpricedGpuSeconds',
    'itKwh',
    'measuredKwh',
    ...(report.reservedCapacity ? (['coveredGpuSeconds', 'netCost'] as const) : []),
  ] as const;
  return toCsv(
    columns,
    report.items.map((r) => ({
      org: r.org,
      project: r.project,
      gpuType: r.gpuType,
      site: r.site,
      class: r.class,
      day: r.day,
      gpuSeconds: r.gpuSeconds,
      gpuHours: r.gpuHours,
      segments: r.segments,
      openSegments: r.openSegments,
      cost: r.cost,
      unpricedGpuSeconds: r.unpricedGpuSeconds,
      itKwh: r.itKwh,
      measuredKwh: r.measuredKwh,
      coveredGpuSeconds: r.coveredGpuSeconds,
      netCost: r.netCost,
    })),
  );
}
