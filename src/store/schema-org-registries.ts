/** Table type of migration 019 (an organisation's registry allow-list). */

export interface OrgRegistriesTable {
  org_id: string;
  /** A lower-case host (optionally :port) or `*.domain` (model/registries.ts). */
  pattern: string;
  updated_at: string;
  updated_by: string;
}
