/** Which views each role sees, and the path → view table. */
import type { JSX } from 'preact';
import type { Role } from './api/types.js';
import { FleetView } from './fleet/fleet-view.js';
import { AccessView } from './views/access.js';
import { AuditView } from './views/audit.js';
import { BudgetsView } from './views/budgets.js';
import { InvoiceDetailView, InvoicesView } from './views/invoices.js';
import { JobDetailView } from './views/job-detail.js';
import { JobsView } from './views/jobs.js';
import { KeysView } from './views/keys.js';
import { QueueView } from './views/queue.js';
import { ReservationsView } from './views/reservations.js';
import { ResidencyView } from './views/residency.js';
import { ServiceDetailView, ServicesView } from './views/services.js';
import { SessionsView } from './views/sessions.js';
import { SubmitView } from './views/submit.js';
import { TenantsView } from './views/tenants.js';
import { TokensView } from './views/tokens.js';
import { UsageView } from './views/usage.js';
import { UsageAllView } from './views/usage-all.js';
import { UtilisationView } from './views/utilisation.js';

interface NavItem {
  path: string;
  label: string;
  roles: readonly Role[];
  view: () => JSX.Element;
}

const OPERATOR: readonly Role[] = ['operator'];
const ALL: readonly Role[] = ['operator', 'admin', 'member', 'viewer'];
const TENANT: readonly Role[] = ['admin', 'member', 'viewer'];

const NAV: readonly NavItem[] = [
  { path: '/fleet', label: 'Fleet map', roles: OPERATOR, view: FleetView },
  { path: '/utilisation', label: 'Utilisation', roles: OPERATOR, view: UtilisationView },
  { path: '/queue', label: 'Queue', roles: OPERATOR, view: QueueView },
  { path: '/tenants', label: 'Tenants', roles: OPERATOR, view: TenantsView },
  { path: '/reservations', label: 'Reservations & maintenance', roles: OPERATOR, view: ReservationsView },
  { path: '/jobs', label: 'Jobs', roles: ALL, view: JobsView },
  { path: '/sessions', label: 'Sessions', roles: ALL, view: SessionsView },
  { path: '/services', label: 'Services', roles: ALL, view: ServicesView },
  { path: '/submit', label: 'Submit', roles: ['admin', 'member'], view: SubmitView },
  { path: '/usage', label: 'Usage and quota', roles: ALL, view: UsageView },
  { path: '/usage-all', label: 'Usage, all organisations', roles: OPERATOR, view: UsageAllView },
  { path: '/budgets', label: 'Budgets', roles: ALL, view: BudgetsView },
  { path: '/invoices', label: 'Invoices', roles: ALL, view: InvoicesView },
  { path: '/residency', label: 'Data & residency', roles: TENANT, view: ResidencyView },
  { path: '/access', label: 'Access', roles: ALL, view: AccessView },
  { path: '/keys', label: 'Keys & secrets', roles: TENANT, view: KeysView },
  { path: '/audit', label: 'Audit log', roles: ['operator', 'admin'], view: AuditView },
  { path: '/tokens', label: 'API tokens', roles: ALL, view: TokensView },
];

export const navFor = (role: Role) => NAV.filter((n) => n.roles.includes(role));
export const homeFor = (role: Role) => (role === 'operator' ? '/fleet' : '/jobs');

/** viewFor picks the view for a path, or null when this role has none there. */
export function viewFor(role: Role, path: string): JSX.Element | null {
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  if (job) return <JobDetailView id={decodeURIComponent(job[1])} />;
  const service = /^\/services\/([^/]+)$/.exec(path);
  if (service) return <ServiceDetailView id={decodeURIComponent(service[1])} />;
  const invoice = /^\/invoices\/([^/]+)$/.exec(path);
  if (invoice) return <InvoiceDetailView id={decodeURIComponent(invoice[1])} />;
  const item = navFor(role).find((n) => n.path === path);
  return item ? <item.view /> : null;
}
