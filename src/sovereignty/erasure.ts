/**
 * Erasure of an organisation (GDPR Art. 17) by crypto-shredding: its KEKs are destroyed at their
 * provider, so every data key and every ciphertext of the organisation (secrets, dataset
 * manifests, and any copy in a backup) becomes unreadable; its jobs are stopped; personal data
 * (user names and e-mail addresses) is removed from the live tables and tokens are revoked.
 * An erasure certificate (what, when, which key ids) is appended to the audit chain. The chain
 * itself is never touched: its records name actors by pseudonymous ids only, so it still verifies.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { canAdminOrg, enforce } from '../model/authz.js';
import { conflict, DomainError, invalid, notFound } from '../model/errors.js';
import { parseJson } from '../model/json.js';
import type { Principal } from '../model/principal.js';
import type { ControlPlane } from '../server/control-plane.js';
import type { Tenancy } from '../server/tenancy/index.js';
import { appendAudit } from '../store/audit.js';
import { type KeysDb, keysDb, keysTrx } from '../store/keys-tables.js';
import type { Store } from '../store/open-store.js';
import type { KeyService } from './keys/key-service.js';
import { ORG_DATA, truncateWal } from './keys/tenant-keys.js';
import type { Restrictions } from './restriction.js';
import { ErasureCertificateSchema } from './stored-json.js';

/** The certificate an erasure issues (its schema: stored-json.ts). */
export type ErasureCertificate = z.infer<typeof ErasureCertificateSchema>;

/** What the org-data key sealed (src/store/sealed-fields.ts), in words for the certificate. */
const SEALED_FIELDS = [
  'job names',
  'job commands and arguments',
  'job images',
  'job environment values and secret references',
  'job labels',
  'checkpoint labels and the checkpoint events that carry them',
];
const REMAINS = [
  "each job's scheduling shape in clear: id, project, GPU type and count, nodes, runtime limit, priority class, placement constraints, dataset ids, state, times and placement",
  'job events written by the system (state changes, placements), which carry no tenant-written text',
  'the audit chain, unchanged: it names actors by pseudonymous ids and records no tenant-written text of jobs or checkpoints',
  'organisation, project and user ids (names and e-mail addresses are removed)',
  'placement evidence records (sites, rules, policy versions, dataset ids; dataset names in them are sealed)',
  'secret names, residency policy names and idempotency keys, which are identifiers (secret values, secret descriptions and dataset names are sealed)',
  'job output kept by a Slurm or Kubernetes site on its own storage: deleted only by that site',
];

const ERASED_NAME = '[erased]';

/** What removes session state directories (src/server/workloads/state-dirs.ts). */
export interface StateDirFinisher {
  finish(datasetId: string): Promise<boolean>;
}

export class Erasure {
  private readonly db: KeysDb;

  constructor(
    private readonly store: Store,
    private readonly cp: ControlPlane,
    private readonly tenancy: Tenancy,
    private readonly keys: KeyService,
    private readonly restrictions: Restrictions,
    private readonly now: () => number = () => Date.now(),
    private readonly stateDirs?: StateDirFinisher,
  ) {
    this.db = keysDb(store.db);
  }

  async certificate(p: Principal, org: string): Promise<ErasureCertificate> {
    await this.tenancy.orgs.get(p, org);
    const row = await this.db.selectFrom('org_erasures').selectAll().where('org_id', '=', org).executeTakeFirst();
    if (!row) throw notFound('erasure', org);
    return parseJson(row.certificate, ErasureCertificateSchema, 'erasure certificate');
  }

  async erase(
    p: Principal,
    org: string,
    input: { confirm: string; reason: string },
    requestId: string,
  ): Promise<ErasureCertificate> {
    await this.tenancy.orgs.get(p, org);
    enforce(canAdminOrg(p, org), 'only organisation admins and operators can erase an organisation');
    if (input.confirm !== org) {
      throw invalid('confirmation_mismatch', `to erase organisation ${org}, send confirm: "${org}" (erasure cannot be undone)`, [
        { path: 'confirm', message: `must be ${org}` },
      ]);
    }
    if (await this.db.selectFrom('org_erasures').select('org_id').where('org_id', '=', org).executeTakeFirst()) {
      throw conflict('org_erased', `organisation ${org} was already erased; GET its erasure certificate`);
    }
    // Freeze first: nothing new is admitted or started while the erasure runs.
    this.restrictions.holdInMemory(org, 'erasure in progress', p.userId);

    const live = await this.db
      .selectFrom('jobs')
      .select('id')
      .where('org_id', '=', org)
      .where('state', 'in', ['queued', 'running'])
      .execute();
    const jobsStopped: string[] = [];
    for (const j of live) {
      try {
        await this.cp.cancelJob(p, String(j.id), requestId);
        jobsStopped.push(String(j.id));
      } catch (err) {
        if (!(err instanceof DomainError && err.code === 'job_finished')) throw err;
      }
    }

    const destroyed = await this.keys.destroyOrgKeys(org);
    const keysDestroyed: ErasureCertificate['keysDestroyed'] = [];
    for (const k of destroyed) {
      keysDestroyed.push({ ...k, stillHeldByProvider: await this.keys.providerHolds(k.provider, k.keyId) });
    }
    if (keysDestroyed.some((k) => k.stillHeldByProvider)) {
      throw new DomainError(
        'dependency_failed',
        'key_not_destroyed',
        `the key provider still holds a key of ${org}; erasure stopped, retry it`,
      );
    }

    const at = new Date(this.now()).toISOString();
    const cert = await this.store.write(async (trx) => {
      const t = keysTrx(trx);
      await t
        .updateTable('org_keks')
        .set({ state: 'destroyed', destroyed_at: at })
        .where('org_id', '=', org)
        .where('state', '!=', 'destroyed')
        .execute();
      const dataKeys = await t
        .updateTable('data_keys')
        .set({ wrapped: null, state: 'shredded', shredded_at: at })
        .where('org_id', '=', org)
        .where('state', '=', 'active')
        .executeTakeFirst();
      const secrets = await t
        .selectFrom('secrets')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', org)
        .executeTakeFirstOrThrow();
      const jobs = await t
        .selectFrom('jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', org)
        .executeTakeFirstOrThrow();
      const labels = await t
        .selectFrom('job_checkpoints')
        .innerJoin('jobs', 'jobs.id', 'job_checkpoints.job_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('jobs.org_id', '=', org)
        .where('job_checkpoints.label', 'is not', null)
        .executeTakeFirstOrThrow();
      const users = await t.selectFrom('users').select('id').where('org_id', '=', org).execute();
      const userIds = users.map((u) => u.id);
      let tokensRevoked = 0;
      if (userIds.length > 0) {
        const del = await t.deleteFrom('tokens').where('user_id', 'in', userIds).executeTakeFirst();
        tokensRevoked = Number(del.numDeletedRows);
        // SSH public keys identify their owner: they go with the organisation's people.
        await t.deleteFrom('user_ssh_keys').where('user_id', 'in', userIds).execute();
        await t.updateTable('users').set({ name: ERASED_NAME, email: null }).where('org_id', '=', org).execute();
      }
      await t.updateTable('orgs').set({ name: ERASED_NAME }).where('id', '=', org).execute();
      // Session state directories (notebooks and all, written in clear by the sessions) go too: asked
      // for here, carried out below, or by the periodic retry once a stopping session has ended.
      const stateDatasets = await t
        .selectFrom('jobs')
        .select('state_dataset')
        .distinct()
        .where('org_id', '=', org)
        .where('state_dataset', 'is not', null)
        .execute();
      for (const r of stateDatasets) {
        if (!r.state_dataset) continue;
        await t
          .insertInto('dataset_state_removals')
          .values({ dataset_id: r.state_dataset, org_id: org, requested_at: at })
          .onConflict((oc) => oc.column('dataset_id').doNothing())
          .execute();
      }
      const certificate: ErasureCertificate = {
        type: 'gigafab-erasure-certificate-v1',
        id: `ec_${randomBytes(8).toString('hex')}`,
        org,
        requestedBy: p.userId,
        reason: input.reason,
        erasedAt: at,
        method:
          'crypto-shredding: the organisation key-encryption keys were destroyed at their key provider; every data key (AES-256-GCM envelope) and every ciphertext wrapped under them is unreadable, including copies in backups',
        keysDestroyed,
        dataKeysUnreadable: Number(dataKeys.numUpdatedRows),
        secretsUnreadable: Number(secrets.n),
        usersPseudonymised: userIds.length,
        tokensRevoked,
        jobsStopped,
        auditChain: 'kept unchanged: audit records name actors by pseudonymous ids only',
        tenantData: {
          fields: SEALED_FIELDS,
          jobs: Number(jobs.n),
          checkpointLabels: Number(labels.n),
          how: `sealed with AES-256-GCM under the organisation's data key (${ORG_DATA}/${org}), which was wrapped only by the destroyed key-encryption keys and is shredded; the ciphertext left in the database and in backups cannot be opened`,
        },
        remains: REMAINS,
        jobOutput:
          "sealed on the local driver's disks (AES-256-CTR, one key per job attempt derived from the org-data key, which is shredded: unreadable now) and deleted from its job directories (at once for ended jobs, when they end for stopping ones)",
        stateDirectories: stateDatasets.flatMap((r) => (r.state_dataset ? [r.state_dataset] : [])),
      };
      await t
        .insertInto('org_erasures')
        .values({ org_id: org, erased_at: at, certificate: JSON.stringify(certificate) })
        .execute();
      await t
        .insertInto('org_restrictions')
        .values({ org_id: org, reason: 'organisation erased', restricted_by: p.userId, since: at })
        .onConflict((oc) =>
          oc.column('org_id').doUpdateSet({ reason: 'organisation erased', restricted_by: p.userId, since: at }),
        )
        .execute();
      await appendAudit(trx, {
        at,
        actor: p.userId,
        org,
        action: 'org.erasure-certificate',
        objectType: 'org',
        objectId: org,
        after: certificate,
        requestId,
      });
      return certificate;
    });
    this.restrictions.holdInMemory(org, 'organisation erased', p.userId);
    this.tenancy.auth.forgetTokens();
    // The unwrapped data key leaves memory too; the WAL's page images of the erasure go into the file.
    this.store.fields.erase(org);
    // Job output the drivers hold on their disks was written by the jobs in clear: it is deleted.
    const all = await this.db.selectFrom('jobs').select('id').where('org_id', '=', org).execute();
    await this.cp.forgetJobOutput(all.map((j) => String(j.id)));
    for (const d of cert.stateDirectories ?? []) await this.stateDirs?.finish(d).catch(() => false);
    await truncateWal(this.store);
    return cert;
  }
}
