/** Audit log, newest first: the caller's organisation for admins, everything for operators. */
import { useState } from 'preact/hooks';
import { ApiError, get, qs } from '../api/client.js';
import type { AuditRecord, Page } from '../api/types.js';
import { ErrorLine } from '../components/error-line.js';
import { fmtTime } from '../lib/format.js';
import { usePoll } from '../lib/use-poll.js';

const brief = (v: unknown) => (v === null || v === undefined ? '' : JSON.stringify(v));

export function AuditView() {
  const [older, setOlder] = useState<AuditRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<string | null>(null);
  const { data, error } = usePoll(async () => {
    const page = await get<Page<AuditRecord>>('/v1/audit?limit=100');
    if (older.length === 0) setCursor(page.nextCursor);
    return page.items;
  }, 10_000);

  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = await get<Page<AuditRecord>>(`/v1/audit${qs({ limit: 100, cursor })}`);
      setOlder([...older, ...page.items]);
      setCursor(page.nextCursor);
    } catch (err) {
      setMoreError(err instanceof ApiError ? err.message : String(err));
    }
  };
  const seen = new Set(data?.map((r) => r.id));
  const rows = [...(data ?? []), ...older.filter((r) => !seen.has(r.id))];

  return (
    <>
      <h1>Audit log</h1>
      <ErrorLine message={error} />
      {rows.length > 0 && (
        <table class="data audit" data-testid="audit-table">
          <caption class="sr-only">Audit records, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Object</th>
              <th scope="col">Organisation</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                <td class="nowrap">{fmtTime(r.at)}</td>
                <td>{r.actor}</td>
                <td>
                  <code>{r.action}</code>
                </td>
                <td>
                  {r.objectType} {r.objectId}
                </td>
                <td>{r.org ?? '–'}</td>
                <td class="change">
                  {brief(r.before)}
                  {r.before !== null && r.after !== null ? ' → ' : ''}
                  {brief(r.after)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorLine message={moreError} />
      {cursor && (
        <button type="button" onClick={() => void loadMore()}>
          Load older records
        </button>
      )}
    </>
  );
}
