/**
 * setupKeys builds the key hierarchy, secrets and restriction for a server: key providers from the
 * data directory and the environment, the services the API routes use, and the hooks the control
 * plane is then constructed with (nothing is patched into it afterwards). Erasure needs the
 * control plane's job service and is built after it (erasureFor). Called once by the composition root.
 *
 * External KMS providers (customer-managed keys): GIGAFAB_KMS_PROVIDERS="name=url[,name=url]",
 * each with an optional bearer token in GIGAFAB_KMS_TOKEN_<NAME> (upper case, dashes as _).
 */

import { join } from 'node:path';
import { sql } from 'kysely';
import type { ControlPlane } from '../../server/control-plane.js';
import type { ControlPlaneHooks, RestrictionCycle } from '../../server/ports.js';
import type { Tenancy } from '../../server/tenancy/index.js';
import type { Store } from '../../store/open-store.js';
import type { StateDirFinisher } from '../erasure.js';
import { Erasure } from '../erasure.js';
import { Restrictions } from '../restriction.js';
import { HttpKmsProvider } from './http-kms-provider.js';
import { KeyService } from './key-service.js';
import { LocalFileKeyProvider } from './local-provider.js';
import type { KeyProvider } from './provider.js';
import { Secrets } from './secrets.js';
import { TenantFieldKeys } from './tenant-keys.js';

export interface KeysServices {
  keys: KeyService;
  secrets: Secrets;
  restrictions: Restrictions;
  erasure: Erasure;
  tenancy: Tenancy;
}

/** What setupKeys makes: the services before erasure, and the control plane's hooks. */
export interface KeysSetup extends Omit<KeysServices, 'erasure'> {
  hooks: Required<Omit<ControlPlaneHooks, 'datasetsFor'>>;
}

/** parseKmsProviders reads GIGAFAB_KMS_PROVIDERS; a malformed entry stops the server with a clear message. */
export function parseKmsProviders(value: string | undefined): [string, string][] {
  if (!value?.trim()) return [];
  return value.split(',').map((entry) => {
    const m = /^\s*([a-z][a-z0-9-]{0,30})=(https?:\/\/\S+)\s*$/.exec(entry);
    if (!m) throw new Error(`GIGAFAB_KMS_PROVIDERS: "${entry}" is not name=http(s)://url`);
    if (m[1] === 'local') throw new Error('GIGAFAB_KMS_PROVIDERS: the name "local" is reserved for the embedded provider');
    return [m[1]!, m[2]!];
  });
}

export async function setupKeys(
  store: Store,
  cycle: RestrictionCycle,
  tenancy: Tenancy,
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KeysSetup> {
  const providers = new Map<string, KeyProvider>([['local', new LocalFileKeyProvider(join(dataDir, 'keys'))]]);
  for (const [name, url] of parseKmsProviders(env.GIGAFAB_KMS_PROVIDERS)) {
    providers.set(name, new HttpKmsProvider(name, url, env[`GIGAFAB_KMS_TOKEN_${name.toUpperCase().replaceAll('-', '_')}`]));
  }
  // Freed database pages are zeroed, so a shredded data key leaves no remnant in the file's free space.
  await sql`PRAGMA secure_delete = ON`.execute(store.db).catch(() => undefined);
  const keys = new KeyService(store, providers);
  // Tenant-written text is sealed under each org's data key from here on; rows from before are sealed now.
  const fields = new TenantFieldKeys(store, keys);
  await fields.load();
  store.fields = fields;
  await fields.sealExisting();
  const secrets = new Secrets(store, keys, tenancy);
  const restrictions = new Restrictions(store, cycle, tenancy);
  await restrictions.load();
  const hooks: KeysSetup['hooks'] = {
    admit: async (org, spec) => {
      restrictions.admit(org);
      await secrets.validateRefs(org, spec);
    },
    holdReason: (org) => restrictions.holdReason(org),
    secretsFor: (job) => secrets.resolveForJob(job),
  };
  return { keys, secrets, restrictions, tenancy, hooks };
}

/** erasureFor completes the services once the control plane (whose jobs erasure cancels) exists. */
export function erasureFor(store: Store, cp: ControlPlane, s: KeysSetup, stateDirs?: StateDirFinisher): KeysServices {
  const erasure = new Erasure(store, cp, s.tenancy, s.keys, s.restrictions, undefined, stateDirs);
  return { keys: s.keys, secrets: s.secrets, restrictions: s.restrictions, tenancy: s.tenancy, erasure };
}
