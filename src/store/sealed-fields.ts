/**
 * Sealed fields: tenant-written text (job names, commands, env values, labels, checkpoint labels and
 * their events) is stored encrypted under the owning organisation's data key, so the database file,
 * its WAL and any backup hold only ciphertext, and erasing the organisation's keys makes it
 * unreadable. What scheduling needs (shape, GPU type, constraints, priority, ids) stays in clear.
 *
 * The store knows only this narrow interface; the key hierarchy behind it lives in
 * src/sovereignty/keys/tenant-keys.ts. Sealing is synchronous (the org's data key is cached
 * unwrapped in memory once `ready(org)` resolved), so a submission costs one AES-GCM call per
 * field, not a key-provider call. Values written before sealing existed are read as they are and
 * sealed by the startup migration (tenant-keys.ts).
 */
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { parseJson } from '../model/json.js';
import { type JobSpec, JobSpecSchema } from '../model/schemas.js';
import type { JobEventsTable, JobsTable } from './schema.js';
import type { JobCheckpointsTable } from './schema-scheduling.js';

/** Prefix of a sealed value: `gf1:<data key id>:<base64 sealed bytes>`. */
export const SEALED_PREFIX = 'gf1:';
/** What a reader gets for a field whose key was destroyed (crypto-shredded). */
export const ERASED = '[erased]';

export interface FieldSealer {
  /** Whether values are really sealed (false only for stores without a key hierarchy, e.g. benchmarks of the store alone). */
  readonly sealing: boolean;
  /** ready makes sure the organisation's data key is unwrapped in memory (created on first use). */
  ready(org: string): Promise<void>;
  /** seal encrypts `text` for `org`, bound to `purpose` (a column name); the org must be ready. */
  seal(org: string, purpose: string, text: string): string;
  /** open reverses seal; a value that is not sealed (written before sealing) comes back as is; null: erased. */
  open(org: string, purpose: string, stored: string): string | null;
  /** erase forgets the organisation's key (after its KEKs were destroyed): its values read as erased from now on. */
  erase(org: string): void;
  /**
   * deriveKey: a 256-bit key for `purpose`/`context` derived from the org's data key (HKDF-SHA256),
   * for data sealed outside the database (a job's output on a site's disk). Nothing needs storing:
   * the same inputs give the same key while the data key exists, and none once it is erased.
   * null: no sealing (plainFields) or the org was erased. The org must be ready.
   */
  deriveKey(org: string, purpose: string, context: string): Buffer | null;
}

/** plainFields: no sealing (a store used without the sovereignty modules). */
export const plainFields: FieldSealer = {
  sealing: false,
  ready: async () => undefined,
  seal: (_org, _purpose, text) => text,
  open: (_org, _purpose, stored) => stored,
  erase: () => undefined,
  deriveKey: () => null,
};

export const isSealed = (v: string | null | undefined): boolean => !!v && v.startsWith(SEALED_PREFIX);

/** Spec fields that are tenant-written free text; everything else in a spec is what scheduling needs. */
const FREE_TEXT = ['name', 'command', 'image', 'env', 'secretEnv', 'labels'] as const;

type JobRowLike = Pick<Selectable<JobsTable>, 'org_id' | 'name' | 'spec' | 'labels'>;

/** sealJobColumns: the name, spec and labels columns of a job as stored (the org must be ready). */
export function sealJobColumns(f: FieldSealer, org: string, spec: JobSpec): { name: string; spec: string; labels: string } {
  const full = JSON.stringify(spec);
  if (!f.sealing) return { name: spec.name, spec: full, labels: JSON.stringify(spec.labels) };
  const clear: Record<string, unknown> = { ...spec };
  for (const k of FREE_TEXT) delete clear[k];
  return {
    name: f.seal(org, 'job.name', spec.name),
    // The whole spec is sealed (so it reads back byte for byte); the clear copy is what scheduling and operators need.
    spec: JSON.stringify({ sealed: f.seal(org, 'job.spec', full), ...clear }),
    // The labels are inside the sealed spec (one AES-GCM call less per submission); the column stays for older rows.
    labels: '{}',
  };
}

/** openSpecColumn: the spec JSON text as submitted, or the clear part marked erased. */
export function openSpecColumn(f: FieldSealer, org: string, stored: string): string {
  if (!stored.startsWith('{"sealed":')) return stored;
  const { sealed, ...clear } = parseJson(stored, SealedSpecSchema, 'sealed job spec');
  const full = f.open(org, 'job.spec', sealed);
  return full ?? JSON.stringify({ name: ERASED, ...clear, labels: {} });
}

/** The stored form of a sealed spec: the sealed whole, beside the clear fields scheduling reads. */
const SealedSpecSchema = z.looseObject({ sealed: z.string() });
/** What openJobRow reads of a spec: its labels (older specs may lack them). */
const SpecLabelsSchema = z.looseObject({ labels: z.record(z.string(), z.string()).optional() });

export function openSpec(f: FieldSealer, org: string, stored: string): JobSpec {
  return parseJson(openSpecColumn(f, org, stored), JobSpecSchema, 'job spec');
}

/** openJobRow: a job row with its sealed columns opened (rows written before sealing pass through). */
export function openJobRow<R extends JobRowLike>(f: FieldSealer, row: R): R {
  if (!isSealed(row.name)) return row;
  const spec = openSpecColumn(f, row.org_id, row.spec);
  return {
    ...row,
    name: f.open(row.org_id, 'job.name', row.name) ?? ERASED,
    spec,
    labels: JSON.stringify(parseJson(spec, SpecLabelsSchema, 'job spec').labels ?? {}),
  };
}

type EventRow = Selectable<JobEventsTable>;

/** sealEventText: message and data of an event that carries tenant-written text (a checkpoint label). */
export function sealEventText(
  f: FieldSealer,
  org: string,
  message: string,
  data: string | null,
): { message: string; data: string | null } {
  return {
    message: f.seal(org, 'event.message', message),
    data: data === null ? null : f.seal(org, 'event.data', data),
  };
}

export function openEventRow(f: FieldSealer, org: string, row: EventRow): EventRow {
  if (!isSealed(row.message)) return row;
  return {
    ...row,
    message: f.open(org, 'event.message', row.message) ?? ERASED,
    data: row.data === null ? null : (f.open(org, 'event.data', row.data) ?? JSON.stringify({ erased: true })),
  };
}

export function openCheckpointLabel(f: FieldSealer, org: string, label: Selectable<JobCheckpointsTable>['label']): string | null {
  return label && isSealed(label) ? (f.open(org, 'checkpoint.label', label) ?? ERASED) : label;
}
