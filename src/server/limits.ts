/**
 * Resource limits of a live server: request and job-spec sizes, queued jobs per organisation, list
 * page bytes, rate limits, concurrent streams and HTTP timeouts. One tenant must not be able to
 * exhaust the server for the others. `gigafab server --limits FILE` reads them from YAML; without a
 * file these defaults apply (README, "REST API" → "Limits").
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { type DomainError, tooMany } from '../model/errors.js';

const rate = (requests: number, perSeconds: number) =>
  z
    .strictObject({ requests: z.number().int().min(1), perSeconds: z.number().int().min(1).max(86400) })
    .default({ requests, perSeconds });

export const LimitsSchema = z.strictObject({
  body: z
    .strictObject({
      /** Any request body; larger ones are answered 413 after their bytes were read and discarded. */
      maxRequestBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
      /** POST /v1/orgs/import: an organisation's archive (JSON, the archive as one string). */
      maxImportBytes: z
        .number()
        .int()
        .min(1024)
        .max(1024 * 1024 * 1024)
        .default(64 * 1024 * 1024),
      /** A job spec as stored (its JSON): command, env, labels and the rest together. */
      maxJobSpecBytes: z
        .number()
        .int()
        .min(1024)
        .max(16 * 1024 * 1024)
        .default(64 * 1024),
    })
    .prefault({}),
  queue: z
    .strictObject({
      /** Jobs an organisation may have queued at once; more are refused (429 org_queue_full). */
      maxQueuedJobsPerOrg: z.number().int().min(1).default(10_000),
    })
    .prefault({}),
  lists: z
    .strictObject({
      /** A list page stops before this many bytes of items (at least one item) and returns a cursor. */
      maxPageBytes: z
        .number()
        .int()
        .min(1024)
        .default(4 * 1024 * 1024),
    })
    .prefault({}),
  rateLimits: z
    .strictObject({
      enabled: z.boolean().default(true),
      perToken: rate(6000, 60),
      perIp: rate(30_000, 60),
      /** Requests with a missing or wrong token, per client address (brute force). */
      failedAuthPerIp: rate(60, 60),
      /** Requests through the workload proxy (sessions, services) per organisation. */
      proxyPerOrg: rate(60_000, 60),
    })
    .prefault({}),
  streams: z
    .strictObject({
      /** Concurrent live streams (SSE events, followed logs) per token and per organisation. */
      perToken: z.number().int().min(1).default(16),
      perOrg: z.number().int().min(1).default(64),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** Time to receive a request's headers (slowloris). */
      headersTimeoutSeconds: z.number().min(0.1).max(600).default(10),
      /** Time to receive the whole request, body included (slow bodies); responses may stream longer. */
      requestTimeoutSeconds: z.number().min(0.1).max(3600).default(30),
      keepAliveTimeoutSeconds: z.number().min(0.1).max(600).default(5),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /**
       * (org, project) label sets of their own in the per-project series at /metrics; later
       * projects are added into org="other",project="other" (project-metrics.ts).
       */
      maxProjectLabelSets: z.number().int().min(1).max(100_000).default(500),
    })
    .prefault({}),
});

export type Limits = z.infer<typeof LimitsSchema>;

export const DEFAULT_LIMITS: Limits = LimitsSchema.parse({});

/** Longest reservation or maintenance window, and how far ahead one may start (documented maxima). */
export const MAX_WINDOW_DAYS = 366;
export const MAX_WINDOW_LEAD_DAYS = 2 * 365;

export function loadLimitsFile(path: string | undefined): Limits {
  if (!path) return DEFAULT_LIMITS;
  const parsed = LimitsSchema.safeParse(parse(readFileSync(path, 'utf8')) ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(`invalid limits file ${path}: ${first?.path.join('.')}: ${first?.message}`);
  }
  const l = parsed.data;
  if (l.http.requestTimeoutSeconds < l.http.headersTimeoutSeconds) {
    throw new Error(`invalid limits file ${path}: http.requestTimeoutSeconds must be at least http.headersTimeoutSeconds`);
  }
  return l;
}

/** queueFull: the refusal of a submission by an organisation that has as many queued jobs as allowed. */
export const queueFull = (org: string, queued: number): DomainError =>
  tooMany(
    'org_queue_full',
    `organisation ${org} already has ${queued} queued jobs, the most allowed (queue.maxQueuedJobsPerOrg); wait until some start or cancel some`,
  );
