/** The residency report's row shape and its CSV rendering (shared by the API and the CLI). */
import { toCsv } from '../model/csv.js';

export interface ResidencyReportRow {
  jobId: string;
  jobName: string;
  project: string;
  startedAt: string;
  finishedAt: string | null;
  state: string;
  site: string;
  city: string;
  country: string;
  eu: boolean;
  eea: boolean;
  operator: string | null;
  attestations: string[];
  dataClasses: string[];
  orgPolicy: string | null;
  projectPolicy: string | null;
  rulesEvaluated: number;
  summary: string;
}

const CSV_COLUMNS: (keyof ResidencyReportRow)[] = [
  'jobId',
  'jobName',
  'project',
  'startedAt',
  'finishedAt',
  'state',
  'site',
  'city',
  'country',
  'eu',
  'eea',
  'operator',
  'attestations',
  'dataClasses',
  'orgPolicy',
  'projectPolicy',
  'rulesEvaluated',
  'summary',
];

/** reportCsv: RFC 4180 CSV, one header line, list cells joined with `;`, formulas neutralised. */
export function reportCsv(items: readonly ResidencyReportRow[]): string {
  return toCsv(CSV_COLUMNS, items);
}
