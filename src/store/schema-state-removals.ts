/** Table type of migration 038 (a deleted dataset whose session state directory is still to be removed). */

export interface DatasetStateRemovalsTable {
  dataset_id: string;
  org_id: string;
  requested_at: string;
}
