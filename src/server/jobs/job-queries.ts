/** Reading jobs as a caller may see them: one job (its org's, or any for operators) and pages of them. */

import { z } from 'zod';
import { canReadJob, enforce } from '../../model/authz.js';
import { invalid, notFound } from '../../model/errors.js';
import { parseJson } from '../../model/json.js';
import type { Principal } from '../../model/principal.js';
import { isOperator } from '../../model/principal.js';
import type { Job } from '../../model/schemas.js';
import type { Store } from '../../store/open-store.js';
import { openJobRow } from '../../store/sealed-fields.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { type JobRow, toJob } from '../job-rows.js';
import type { JobCycle } from './ports.js';

const Labels = z.record(z.string(), z.string());

export interface JobListQuery {
  state?: string;
  project?: string;
  label?: string;
  limit: number;
  cursor?: string;
  /** The page stops before this many bytes of items (at least one item); default: no byte bound. */
  maxPageBytes?: number;
}

/** visibleJobRow: the job if the caller may see it; 404 otherwise (never 403: ids do not leak). */
export async function visibleJobRow(store: Store, p: Principal, id: string): Promise<JobRow> {
  // Canonical decimals only: Number() would read `0x10` or `1e1` as another job's id.
  const n = /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : 0;
  const row =
    Number.isSafeInteger(n) && n > 0
      ? await store.db.selectFrom('jobs').selectAll().where('id', '=', n).executeTakeFirst()
      : undefined;
  if (!row) throw notFound('job', id);
  enforce(canReadJob(p, row.org_id), 'not found', { kind: 'job', id });
  return openJobRow(store.fields, row);
}

export async function listJobs(
  store: Store,
  cycle: Pick<JobCycle, 'pendingReason' | 'reasonCycle'>,
  p: Principal,
  q: JobListQuery,
): Promise<{ items: Job[]; nextCursor: string | null }> {
  let before = q.cursor !== undefined ? decodeCursor(q.cursor) : null;
  const label = q.label ? labelFilter(q.label) : null;
  // Rows are read in batches and the page closes at its byte bound, so a page of large specs never
  // holds more than about maxPageBytes in memory nor becomes one giant string.
  const maxBytes = q.maxPageBytes ?? Number.POSITIVE_INFINITY;
  const items: Job[] = [];
  let bytes = 0;
  let more = false;
  for (;;) {
    const want = Math.min(q.limit - items.length + 1, 200);
    let query = store.db.selectFrom('jobs').selectAll().orderBy('id', 'desc').limit(want);
    if (!isOperator(p)) query = query.where('org_id', '=', p.org ?? '');
    if (q.state) query = query.where('state', '=', q.state);
    if (q.project) query = query.where('project_id', '=', q.project);
    if (before !== null) query = query.where('id', '<', before);
    const rows = (await query.execute()).map((r) => openJobRow(store.fields, r));
    for (const r of rows) {
      if (items.length === q.limit) {
        more = true;
        break;
      }
      before = r.id;
      // Labels are few per job and filtered here (a label index comes with PostgreSQL).
      if (label && parseJson(r.labels, Labels, `labels of job ${r.id}`)[label[0]] !== label[1]) continue;
      const key = String(r.id);
      const job = toJob(r, cycle.pendingReason(key), cycle.reasonCycle(key));
      const size = Number.isFinite(maxBytes) ? Buffer.byteLength(JSON.stringify(job)) + 1 : 0;
      if (items.length > 0 && bytes + size > maxBytes) {
        more = true;
        break;
      }
      items.push(job);
      bytes += size;
    }
    if (more || rows.length < want) break;
  }
  const last = items.at(-1);
  return { items, nextCursor: more && last ? encodeCursor(last.id) : null };
}

function labelFilter(text: string): [string, string] {
  const [k, v] = text.split('=', 2);
  if (!k || v === undefined) throw invalid('invalid_label_filter', 'label filter must look like key=value');
  return [k, v];
}
