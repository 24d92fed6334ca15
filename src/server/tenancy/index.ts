/**
 * Tenancy: organisations, projects, users, API tokens and authentication, as one facade over small
 * services (`tenancy.orgs`, `.projects`, `.users`, `.tokens`, `.auth`). Everything it depends on,
 * the OIDC login and the token policy included, comes in through the constructor.
 * Objects of other tenants are reported as not found (404), never as forbidden.
 */
import type { Store } from '../../store/open-store.js';
import { Auth, type OidcLogin } from './auth.js';
import { type DatasetImportPort, OrgImports } from './org-import.js';
import { Orgs } from './orgs.js';
import { Projects, type QuotaLedger } from './projects.js';
import { SshKeys } from './ssh-keys.js';
import { DEFAULT_TOKEN_POLICY, type TokenPolicy } from './token-records.js';
import { Tokens } from './tokens.js';
import { Users } from './users.js';

export type { OidcLogin } from './auth.js';
export { bootstrapOperator } from './bootstrap.js';
export type { QuotaLedger } from './projects.js';
export { DEFAULT_TOKEN_POLICY, type TokenPolicy } from './token-records.js';
export { operatorIds } from './user-views.js';

export interface TenancyDeps {
  store: Store;
  /** The control plane's quota ledger (quota usage, the fleet's GPU types). */
  quotas: QuotaLedger;
  /** Lifetime of new tokens (`gigafab server --token-days/--token-max-days`). */
  tokenPolicy?: TokenPolicy;
  /** OIDC login, when the server is configured for it: JWT-shaped bearer tokens go there. */
  oidc?: OidcLogin | null;
  /** Where imported datasets are registered (the residency service). */
  datasets?: DatasetImportPort | null;
  now?: () => number;
}

export class Tenancy {
  readonly auth: Auth;
  readonly orgs: Orgs;
  readonly projects: Projects;
  readonly users: Users;
  readonly tokens: Tokens;
  /** SSH public keys in each user's profile (for `ssh` sessions). */
  readonly sshKeys: SshKeys;
  /** Organisations imported from another installation's archive (org-import.ts). */
  readonly imports: OrgImports;

  constructor(deps: TenancyDeps) {
    const now = deps.now ?? (() => Date.now());
    const policy = deps.tokenPolicy ?? DEFAULT_TOKEN_POLICY;
    this.auth = new Auth(deps.store, deps.oidc ?? null, now);
    this.orgs = new Orgs(deps.store, now);
    this.projects = new Projects(deps.store, this.orgs, deps.quotas, now);
    this.users = new Users(deps.store, this.orgs, this.auth, policy, now);
    this.tokens = new Tokens(deps.store, this.users, this.auth, policy, now);
    this.sshKeys = new SshKeys(deps.store, now);
    this.imports = new OrgImports(deps.store, deps.quotas, policy, now, deps.datasets ?? null);
  }
}
