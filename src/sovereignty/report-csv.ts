/** The residency report's row shape and its CSV rendering (shared by the API and the CLI). */
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

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(';') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** reportCsv: RFC 4180 CSV, one header line, list cells joined with `;`. */
export function reportCsv(items: readonly ResidencyReportRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const it of items) lines.push(CSV_COLUMNS.map((c) => csvCell(it[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
