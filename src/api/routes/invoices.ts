/** Monthly invoices (JSON and PDF), credit notes, invoice runs, billing profiles, sites' energy factors. */
import { createRoute, z } from '@hono/zod-openapi';
import { EnergyFactorsInputSchema, EnergyFactorsSchema, EnergyStatementSchema, JobEnergySchema } from '../../model/energy.js';
import {
  BillingProfileInputSchema,
  BillingProfileSchema,
  CreditNoteInputSchema,
  CreditNoteSchema,
  InvoiceRunInputSchema,
  InvoiceRunSchema,
  InvoiceSummarySchema,
  InvoiceVerificationSchema,
  IssuedInvoiceSchema,
} from '../../model/invoices.js';
import { energyStatementPdf } from '../../server/invoices/energy-statement-pdf.js';
import { invoicePdf } from '../../server/invoices/invoice-pdf.js';
import { json, newRouter, requestContext, type Services } from '../context.js';
import { commonProblems, conflictProblem, unprocessableProblem } from '../problems.js';

const IdParam = z.object({
  id: z
    .string()
    .max(20)
    .openapi({ param: { name: 'id', in: 'path' }, example: '1' }),
});
const OrgParam = z.object({
  org: z
    .string()
    .max(63)
    .openapi({ param: { name: 'org', in: 'path' }, example: 'robotics-gmbh' }),
});

export function invoiceRoutes({ cp }: Services) {
  const r = newRouter();
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/invoices/runs',
      operationId: 'runInvoices',
      tags: ['invoices'],
      summary: 'Issue the invoices of a month that has ended (operators); a second run issues only what is missing',
      request: { body: { content: { 'application/json': { schema: InvoiceRunInputSchema } }, required: true } },
      responses: { 200: json(InvoiceRunSchema, 'What this run issued'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await cp.invoices.run(requestContext(c), c.req.valid('json').month), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invoices',
      operationId: 'listInvoices',
      tags: ['invoices'],
      summary: "Issued invoices, newest first (tenants: their organisation's; operators: all, or `org`)",
      request: {
        query: z.object({
          org: z.string().max(63).optional(),
          month: z.string().max(16).optional().openapi({ example: '2026-11' }),
        }),
      },
      responses: { 200: json(z.object({ items: z.array(InvoiceSummarySchema) }), 'The invoices'), ...commonProblems },
    }),
    async (c) => c.json({ items: await cp.invoices.list(c.get('principal'), c.req.valid('query')) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invoices/{id}',
      operationId: 'getInvoice',
      tags: ['invoices'],
      summary: 'An issued invoice with its credit notes; 409 invoice_altered if it no longer matches its audited hash',
      request: { params: IdParam },
      responses: { 200: json(IssuedInvoiceSchema, 'The invoice'), ...commonProblems, ...conflictProblem },
    }),
    async (c) => c.json(await cp.invoices.get(c.get('principal'), c.req.valid('param').id), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invoices/{id}/pdf',
      operationId: 'getInvoicePdf',
      tags: ['invoices'],
      summary: 'An issued invoice as a PDF',
      request: { params: IdParam },
      responses: {
        200: { description: 'The PDF', content: { 'application/pdf': { schema: z.string().openapi({ format: 'binary' }) } } },
        ...commonProblems,
        ...conflictProblem,
      },
    }),
    async (c) => {
      const inv = await cp.invoices.get(c.get('principal'), c.req.valid('param').id);
      const pdf = await invoicePdf(inv);
      return c.body(new Uint8Array(pdf), 200, {
        'content-type': 'application/pdf',
        'content-disposition': `attachment; filename="${inv.number}.pdf"`,
      });
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/invoices/{id}/verify',
      operationId: 'verifyInvoice',
      tags: ['invoices'],
      summary: 'Does the stored invoice still hash to the SHA-256 its audit record holds?',
      request: { params: IdParam },
      responses: { 200: json(InvoiceVerificationSchema, 'The verification'), ...commonProblems },
    }),
    async (c) => c.json(await cp.invoices.verify(c.get('principal'), c.req.valid('param').id), 200),
  );
  r.openapi(
    createRoute({
      method: 'post',
      path: '/v1/invoices/{id}/credit-notes',
      operationId: 'createCreditNote',
      tags: ['invoices'],
      summary: 'Credit part of an invoice (operators); the invoice itself never changes',
      request: { params: IdParam, body: { content: { 'application/json': { schema: CreditNoteInputSchema } }, required: true } },
      responses: {
        201: json(CreditNoteSchema, 'The credit note, audited'),
        ...commonProblems,
        ...unprocessableProblem,
        ...conflictProblem,
      },
    }),
    async (c) => c.json(await cp.invoices.creditNote(requestContext(c), c.req.valid('param').id, c.req.valid('json')), 201),
  );
  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/orgs/{org}/billing-profile',
      operationId: 'setBillingProfile',
      tags: ['invoices'],
      summary: "Set the organisation's billing country and VAT id (its admins, operators); later invoices use it",
      request: {
        params: OrgParam,
        body: { content: { 'application/json': { schema: BillingProfileInputSchema } }, required: true },
      },
      responses: {
        200: json(BillingProfileSchema, 'The profile and its VAT treatment'),
        ...commonProblems,
        ...unprocessableProblem,
      },
    }),
    async (c) => c.json(await cp.billing.setProfile(requestContext(c), c.req.valid('param').org, c.req.valid('json')), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/billing-profile',
      operationId: 'getBillingProfile',
      tags: ['invoices'],
      summary: "The organisation's billing country, VAT id and VAT treatment (default: Germany)",
      request: { params: OrgParam },
      responses: { 200: json(BillingProfileSchema, 'The profile'), ...commonProblems },
    }),
    async (c) => c.json(await cp.billing.profile(c.get('principal'), c.req.valid('param').org), 200),
  );
  r.openapi(
    createRoute({
      method: 'put',
      path: '/v1/energy-factors',
      operationId: 'setEnergyFactors',
      tags: ['invoices'],
      summary: "Set a site's PUE and grid factor for a month (operators), with their source",
      request: {
        body: { content: { 'application/json': { schema: EnergyFactorsInputSchema } }, required: true },
      },
      responses: { 200: json(EnergyFactorsSchema, 'The factors, audited'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) => c.json(await cp.billing.setEnergyFactors(requestContext(c), c.req.valid('json')), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/energy-factors',
      operationId: 'listEnergyFactors',
      tags: ['invoices'],
      summary: "The sites' energy factors by site and month (`site`: one site's)",
      request: { query: z.object({ site: z.string().max(63).optional() }) },
      responses: { 200: json(z.object({ items: z.array(EnergyFactorsSchema) }), 'The factors'), ...commonProblems },
    }),
    async (c) => c.json({ items: await cp.billing.energyFactors(c.req.valid('query').site) }, 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/energy',
      operationId: 'getJobEnergy',
      tags: ['jobs'],
      summary: "A job's energy and CO₂ per run segment (power model, sites' PUE and grid factors); running ones up to now",
      request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '812' }) }) },
      responses: { 200: json(JobEnergySchema, 'The energy'), ...commonProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      // Reading the job decides who may see its energy (another organisation's: not found).
      await cp.getJob(c.get('principal'), id);
      return c.json(await cp.invoices.jobEnergy(id), 200);
    },
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/energy-statement',
      operationId: 'getEnergyStatement',
      tags: ['invoices'],
      summary: "The organisation's yearly energy statement: kWh, PUE, renewable share and CO₂, per site",
      request: { params: OrgParam, query: z.object({ year: z.string().max(8).openapi({ example: '2026' }) }) },
      responses: { 200: json(EnergyStatementSchema, 'The statement'), ...commonProblems, ...unprocessableProblem },
    }),
    async (c) =>
      c.json(await cp.invoices.energyStatement(c.get('principal'), c.req.valid('param').org, c.req.valid('query').year), 200),
  );
  r.openapi(
    createRoute({
      method: 'get',
      path: '/v1/orgs/{org}/energy-statement/pdf',
      operationId: 'getEnergyStatementPdf',
      tags: ['invoices'],
      summary: "The organisation's yearly energy statement as a PDF (the JSON statement's figures)",
      request: { params: OrgParam, query: z.object({ year: z.string().max(8).openapi({ example: '2026' }) }) },
      responses: {
        200: { description: 'The PDF', content: { 'application/pdf': { schema: z.string().openapi({ format: 'binary' }) } } },
        ...commonProblems,
        ...unprocessableProblem,
      },
    }),
    async (c) => {
      const st = await cp.invoices.energyStatement(c.get('principal'), c.req.valid('param').org, c.req.valid('query').year);
      const pdf = await energyStatementPdf(st);
      return c.body(new Uint8Array(pdf), 200, {
        'content-type': 'application/pdf',
        'content-disposition': `attachment; filename="energy-statement-${st.org}-${st.year}.pdf"`,
      });
    },
  );
  return r;
}
