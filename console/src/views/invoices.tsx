/**
 * Invoices: the organisation's monthly invoices (month, status, net, VAT, gross, kWh and CO₂) and
 * each invoice's page — its line items per GPU type, class and price version, VAT, energy, credit
 * notes, its SHA-256 checked against the audit chain — with the API's own PDF to download. Tenants
 * see their organisation's invoices (the API answers nothing else); an operator sees every
 * organisation's and may narrow the list to one.
 */
import { useState } from 'preact/hooks';
import { ApiError, download, get, qs } from '../api/client.js';
import type { InvoiceSummary, InvoiceVerification, IssuedInvoice, Org, Page } from '../api/types.js';
import { useMe } from '../auth/me.js';
import { DataTable } from '../components/data-table.js';
import { ErrorLine } from '../components/error-line.js';
import { SelectField } from '../components/field.js';
import { fmtEur, fmtTime } from '../lib/format.js';
import { attempt } from '../lib/problem.js';
import { Link } from '../lib/router.js';
import { fmtHours } from '../lib/usage-series.js';
import { usePoll } from '../lib/use-poll.js';

const invoicePath = (id: string, rest = '') => `/v1/invoices/${encodeURIComponent(id)}${rest}`;
const kwh = (n: number) => `${n.toFixed(3)} kWh`;
const kg = (n: number) => `${n.toFixed(3)} kg`;

/** status: issued, or how much of it credit notes took back. */
const status = (i: Pick<InvoiceSummary, 'creditedCents' | 'grossCents'>) =>
  i.creditedCents === 0
    ? 'issued'
    : i.creditedCents >= i.grossCents
      ? 'credited in full'
      : `issued, ${fmtEur(i.creditedCents)} credited`;

function PdfButton({ inv, onError }: { inv: Pick<InvoiceSummary, 'id' | 'number'>; onError: (m: string | null) => void }) {
  return (
    <button
      type="button"
      data-testid="invoice-pdf"
      onClick={() => void attempt(() => download(invoicePath(inv.id, '/pdf'), `${inv.number}.pdf`, 'application/pdf'), onError)}
    >
      Download PDF
    </button>
  );
}

export function InvoicesView() {
  const me = useMe();
  const operator = me.role === 'operator';
  const orgs = usePoll(() => (operator ? get<Page<Org>>('/v1/orgs') : Promise.resolve(null)), 0);
  const [org, setOrg] = useState('');
  const [pdfError, setPdfError] = useState<string | null>(null);
  const { data, error } = usePoll(
    async () => {
      const list = await get<Page<InvoiceSummary>>(`/v1/invoices${qs({ org: operator ? org : undefined })}`);
      // The list has no VAT or energy figures: each invoice's own answer has them (one a month). An
      // invoice the API will not serve (409 invoice_altered) keeps its row, with the API's sentence.
      const full = await Promise.all(
        list.items.map((i) =>
          get<IssuedInvoice>(invoicePath(i.id)).then(
            (inv) => ({ inv, problem: null }),
            (err: unknown) => {
              if (err instanceof ApiError && err.status !== 401) return { inv: null, problem: err.message };
              throw err;
            },
          ),
        ),
      );
      return list.items.map((i, n) => ({ ...i, ...full[n] }));
    },
    60_000,
    [org],
  );
  return (
    <>
      <h1>Invoices</h1>
      <p class="muted">
        One invoice per organisation and calendar month (UTC), issued after the month ends; immutable once issued (its SHA-256 is
        in the audit chain), corrected only by credit notes.
      </p>
      <ErrorLine message={orgs.error} />
      {operator && (
        <SelectField
          id="invoice-org"
          label="Organisation"
          value={org}
          blank="all organisations"
          options={orgs.data?.items.map((o) => o.id) ?? []}
          onValue={setOrg}
        />
      )}
      <ErrorLine message={error ?? pdfError} />
      {data && data.length === 0 && <p>No invoices yet: the first is issued after the first month with metered usage ends.</p>}
      {data && data.length > 0 && (
        <DataTable
          testid="invoices"
          cols={[
            'Invoice',
            operator && 'Organisation',
            'Month',
            'Status',
            { label: 'Net', num: true },
            { label: 'VAT', num: true },
            { label: 'Gross', num: true },
            { label: 'Energy', num: true },
            { label: 'CO₂', num: true },
            'PDF',
          ]}
          rows={data}
          row={(i) => (
            <tr key={i.id} data-invoice={i.id}>
              <th scope="row">
                <Link href={`/invoices/${encodeURIComponent(i.id)}`}>{i.number}</Link>
              </th>
              {operator && <td>{i.org}</td>}
              <td>{i.month}</td>
              <td data-col="status">{i.problem ?? status(i)}</td>
              <td class="num" data-col="net">
                {fmtEur(i.netCents)}
              </td>
              <td class="num" data-col="vat">
                {i.inv ? (
                  <>
                    {fmtEur(i.inv.vatCents)} <span class="muted">({i.inv.vatRatePercent}%)</span>
                  </>
                ) : (
                  '–'
                )}
              </td>
              <td class="num" data-col="gross">
                {fmtEur(i.grossCents)}
              </td>
              <td class="num" data-col="kwh">
                {i.inv ? kwh(i.inv.energy.facilityKwh) : '–'}
              </td>
              <td class="num" data-col="co2">
                {i.inv ? kg(i.inv.energy.co2Kg) : '–'}
              </td>
              <td>
                <PdfButton inv={i} onError={setPdfError} />
              </td>
            </tr>
          )}
        />
      )}
    </>
  );
}

export function InvoiceDetailView({ id }: { id: string }) {
  const [pdfError, setPdfError] = useState<string | null>(null);
  const { data, error } = usePoll(
    async () => {
      const [inv, verification] = await Promise.all([
        get<IssuedInvoice>(invoicePath(id)),
        get<InvoiceVerification>(invoicePath(id, '/verify')).catch((err: unknown) => {
          if (err instanceof ApiError && err.status !== 401) return null;
          throw err;
        }),
      ]);
      return { inv, verification };
    },
    0,
    [id],
  );
  const inv = data?.inv;
  return (
    <>
      <p>
        <Link href="/invoices">← Invoices</Link>
      </p>
      <h1>Invoice {inv?.number ?? id}</h1>
      <ErrorLine message={error ?? pdfError} />
      {inv && (
        <>
          <section class="panel" aria-labelledby="inv-summary">
            <h2 id="inv-summary">
              {inv.org}, {inv.month}
            </h2>
            <dl class="facts" data-testid="invoice-summary">
              <dt>Period</dt>
              <dd>
                {inv.period.from} to {inv.period.to} (UTC)
              </dd>
              <dt>Issued</dt>
              <dd>{fmtTime(inv.issuedAt)}</dd>
              <dt>Customer</dt>
              <dd>
                {inv.customer.country}
                {inv.customer.vatId ? `, VAT id ${inv.customer.vatId}` : ', no VAT id'}
              </dd>
              {inv.lentCreditCents !== undefined && (
                <>
                  <dt>Lent capacity credit</dt>
                  <dd data-testid="invoice-lent-credit">{fmtEur(-inv.lentCreditCents)}</dd>
                </>
              )}
              <dt>Net</dt>
              <dd data-testid="invoice-net">{fmtEur(inv.netCents)}</dd>
              <dt>VAT ({inv.vatRatePercent}%)</dt>
              <dd data-testid="invoice-vat">{fmtEur(inv.vatCents)}</dd>
              <dt>Gross</dt>
              <dd data-testid="invoice-gross">{fmtEur(inv.grossCents)}</dd>
              {inv.vatNote && (
                <>
                  <dt>VAT note</dt>
                  <dd>{inv.vatNote}</dd>
                </>
              )}
              <dt>Energy</dt>
              <dd data-testid="invoice-energy">
                {kwh(inv.energy.itKwh)} at the GPUs, {kwh(inv.energy.facilityKwh)} with the sites' PUE, {kg(inv.energy.co2Kg)}{' '}
                CO₂e
              </dd>
              <dt>SHA-256</dt>
              <dd>
                <code>{inv.sha256}</code>{' '}
                <span data-testid="invoice-verified">
                  {data.verification === null
                    ? ''
                    : data.verification.ok
                      ? `matches audit record ${data.verification.auditId}`
                      : `does not verify: ${data.verification.problem ?? 'hash mismatch'}`}
                </span>
              </dd>
            </dl>
            <PdfButton inv={inv} onError={setPdfError} />
          </section>
          <section class="panel" aria-labelledby="inv-lines">
            <h2 id="inv-lines">Line items</h2>
            {inv.lines.length === 0 ? (
              <p>No priced usage in the month.</p>
            ) : (
              <DataTable
                testid="invoice-lines"
                cols={[
                  'GPU type',
                  'Class',
                  { label: 'Price version', num: true },
                  { label: 'EUR per GPU-hour', num: true },
                  { label: 'GPU-hours', num: true },
                  { label: 'Amount', num: true },
                  { label: 'IT energy', num: true },
                  { label: 'With PUE', num: true },
                  { label: 'CO₂e', num: true },
                ]}
                rows={inv.lines}
                row={(l) => (
                  <tr key={`${l.gpuType}/${l.class}/${l.priceVersion}`} data-line={`${l.gpuType}/${l.class}/${l.priceVersion}`}>
                    <th scope="row">{l.gpuType}</th>
                    <td>{l.class}</td>
                    <td class="num">{l.priceVersion}</td>
                    <td class="num" data-col="unit">
                      {fmtEur(l.centsPerGpuHour)}
                    </td>
                    <td class="num" data-col="gpuHours">
                      {l.gpuHours}
                    </td>
                    <td class="num" data-col="amount">
                      {fmtEur(l.amountCents)}
                    </td>
                    <td class="num">{kwh(l.itKwh)}</td>
                    <td class="num">{kwh(l.facilityKwh)}</td>
                    <td class="num">{kg(l.co2Kg)}</td>
                  </tr>
                )}
              />
            )}
            {(inv.reservedCapacity ?? []).length > 0 && (
              <DataTable
                testid="invoice-reserved"
                cols={[
                  'GPU type',
                  { label: 'Reserved GPUs', num: true },
                  { label: 'EUR per GPU-month', num: true },
                  { label: 'Amount', num: true },
                  { label: 'Covered GPU-hours (billed at 0)', num: true },
                ]}
                rows={inv.reservedCapacity ?? []}
                row={(r) => (
                  <tr key={r.gpuType} data-reserved={r.gpuType}>
                    <th scope="row">{r.gpuType}</th>
                    <td class="num">{r.gpus}</td>
                    <td class="num">{fmtEur(r.centsPerGpuMonth)}</td>
                    <td class="num" data-col="amount">
                      {fmtEur(r.amountCents)}
                    </td>
                    <td class="num" data-col="covered">
                      {r.coveredGpuHours}
                    </td>
                  </tr>
                )}
              />
            )}
            {(inv.lentCredits ?? []).length > 0 && (
              <DataTable
                testid="invoice-lent-credits"
                cols={[
                  'GPU type',
                  { label: 'Price version', num: true },
                  { label: 'Credit EUR per GPU-hour', num: true },
                  { label: 'Lent GPU-hours', num: true },
                  { label: 'Credit', num: true },
                ]}
                rows={inv.lentCredits ?? []}
                row={(c) => (
                  <tr key={`${c.gpuType}/${c.priceVersion}`} data-lent={`${c.gpuType}/${c.priceVersion}`}>
                    <th scope="row">{c.gpuType}</th>
                    <td class="num">{c.priceVersion}</td>
                    <td class="num">{fmtEur(c.centsPerGpuHour)}</td>
                    <td class="num" data-col="gpuHours">
                      {c.gpuHours}
                    </td>
                    <td class="num" data-col="amount">
                      {fmtEur(-c.amountCents)}
                    </td>
                  </tr>
                )}
              />
            )}
            {(inv.corrections ?? []).length > 0 && (
              <DataTable
                testid="invoice-corrections"
                caption="Corrections of earlier invoices: run time reconciled after they were issued"
                cols={['Corrects', 'Month', 'Job', 'Description', { label: 'Amount', num: true }]}
                rows={inv.corrections ?? []}
                row={(c) => (
                  <tr key={`${c.invoiceId}/${c.jobId}/${c.attempt}`}>
                    <th scope="row">{c.invoiceNumber}</th>
                    <td>{c.month}</td>
                    <td>{c.jobId}</td>
                    <td>{c.description}</td>
                    <td class="num" data-col="amount">
                      {fmtEur(c.netCents)}
                    </td>
                  </tr>
                )}
              />
            )}
            {lapsedCents(inv) > 0 && (
              <p class="muted">
                Lent capacity credits exceed the month's charges: {fmtEur(lapsedCents(inv))} of them lapses (net stops at 0).
              </p>
            )}
            {inv.unpricedGpuSeconds > 0 && (
              <p class="muted">{fmtHours(inv.unpricedGpuSeconds / 3600)} GPU-hours had no price in effect and are not billed.</p>
            )}
            {inv.energy.sitesWithoutFactors.length > 0 && (
              <p class="muted">
                No PUE or grid factor for {inv.energy.sitesWithoutFactors.join(', ')} in {inv.month}: PUE 1, no CO₂ counted there.
              </p>
            )}
            <p class="muted">Energy: {inv.energy.powerModel}</p>
          </section>
          <section class="panel" aria-labelledby="inv-credits">
            <h2 id="inv-credits">Credit notes</h2>
            {inv.creditNotes.length === 0 ? (
              <p>None.</p>
            ) : (
              <DataTable
                testid="credit-notes"
                cols={[
                  'Number',
                  'Issued',
                  'Reason',
                  { label: 'Net', num: true },
                  { label: 'VAT', num: true },
                  { label: 'Gross', num: true },
                ]}
                rows={inv.creditNotes}
                row={(c) => (
                  <tr key={c.id}>
                    <th scope="row">{c.number}</th>
                    <td>{fmtTime(c.issuedAt)}</td>
                    <td>{c.reason}</td>
                    <td class="num">{fmtEur(c.netCents)}</td>
                    <td class="num">{fmtEur(c.vatCents)}</td>
                    <td class="num">{fmtEur(c.grossCents)}</td>
                  </tr>
                )}
              />
            )}
          </section>
        </>
      )}
    </>
  );
}

/** lapsedCents: lent capacity credit beyond the month's charges, which the invoice does not take off. */
function lapsedCents(inv: IssuedInvoice): number {
  const total = (inv.lentCredits ?? []).reduce((sum, c) => sum + c.amountCents, 0);
  return total - (inv.lentCreditCents ?? total);
}
