/**
 * The organisation archive (`gigafab org export`, `gigafab org verify-archive`): a tenant's complete
 * data as JSON Lines, format `gigafab-org-archive` version 1.
 *
 * Line 1 is the manifest: `{"type":"manifest","format","formatVersion","org","exportedAt",
 * "exportedBy","source","sections":[{"name","records","sha256"}]}`. Then every section's records in
 * the manifest's order, one per line: `{"section","n","record","h"}` where `n` counts from 1 within
 * the section and `h = sha256(h_prev + JSON(record))` (hex; `h_prev` is "" for the first record),
 * so a verifier names the first record that does not match; the section's `sha256` in the manifest
 * is its last `h` (sha256 of "" for an empty section). The `audit` section holds the lines of
 * `GET /v1/audit/export` as the organisation's admin gets them (the signed checkpoint first, then
 * the organisation's records with their chain hashes): it is verified as `gigafab audit verify
 * --file` does, against the operator's Ed25519 key. The checksums catch damage and truncation; only
 * the audit section is signed by the installation.
 */
import { createHash } from 'node:crypto';
import { verifyExportLines } from '../audit/offline.js';

export const ORG_ARCHIVE_FORMAT = 'gigafab-org-archive';
export const ORG_ARCHIVE_VERSION = 1;

/** The sections, in the order they are written. */
export const ORG_ARCHIVE_SECTIONS = [
  'org',
  'projects',
  'users',
  'jobs',
  'datasets',
  'usage',
  'residency',
  'processing-record',
  'audit',
] as const;
export type OrgArchiveSection = (typeof ORG_ARCHIVE_SECTIONS)[number];

export interface OrgArchiveManifest {
  type: 'manifest';
  format: typeof ORG_ARCHIVE_FORMAT;
  formatVersion: number;
  org: string;
  exportedAt: string;
  exportedBy: string;
  source: string;
  sections: { name: OrgArchiveSection; records: number; sha256: string }[];
}

const chainStep = (prev: string, record: unknown) =>
  createHash('sha256')
    .update(prev + JSON.stringify(record))
    .digest('hex');
const EMPTY = createHash('sha256').update('').digest('hex');

/** writeOrgArchive: the archive's text from the sections' records. */
export function writeOrgArchive(
  meta: Omit<OrgArchiveManifest, 'type' | 'format' | 'formatVersion' | 'sections'>,
  sections: Record<OrgArchiveSection, readonly unknown[]>,
): string {
  const body: string[] = [];
  const listed: OrgArchiveManifest['sections'] = [];
  for (const name of ORG_ARCHIVE_SECTIONS) {
    let h = '';
    sections[name].forEach((record, i) => {
      h = chainStep(h, record);
      body.push(JSON.stringify({ section: name, n: i + 1, record, h }));
    });
    listed.push({ name, records: sections[name].length, sha256: h || EMPTY });
  }
  const manifest: OrgArchiveManifest = {
    type: 'manifest',
    format: ORG_ARCHIVE_FORMAT,
    formatVersion: ORG_ARCHIVE_VERSION,
    ...meta,
    sections: listed,
  };
  return `${[JSON.stringify(manifest), ...body].join('\n')}\n`;
}

export interface ArchiveReport {
  ok: boolean;
  message: string;
  manifest: OrgArchiveManifest | null;
  /** The first bad record: its section, its number in the section, and why. */
  problem: { section: string; n: number; reason: string } | null;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** recordLabel: how a record is named in a message (its id where it has one). */
function recordLabel(record: unknown): string {
  if (!isObj(record)) return '';
  const inner = isObj(record.job) ? record.job : record;
  const id = inner.id ?? inner.type;
  return typeof id === 'string' || typeof id === 'number' ? ` (${String(id)})` : '';
}

/**
 * verifyOrgArchive checks an archive offline: format and version, every section's records against
 * their chain of hashes and the manifest, and the audit slice against its signed checkpoint.
 */
export function verifyOrgArchive(text: string, expectedKeyId?: string): ArchiveReport {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const bad = (section: string, n: number, reason: string, manifest: OrgArchiveManifest | null = null): ArchiveReport => ({
    ok: false,
    message: `${reason} — first bad record: ${section} ${n}`,
    manifest,
    problem: { section, n, reason },
  });
  let first: unknown;
  try {
    first = JSON.parse(lines[0] ?? '');
  } catch {
    return bad('manifest', 0, 'not a gigafab organisation archive (line 1 is not JSON)');
  }
  if (!isObj(first) || first.type !== 'manifest' || first.format !== ORG_ARCHIVE_FORMAT)
    return bad('manifest', 0, `not a gigafab organisation archive (line 1 is not a ${ORG_ARCHIVE_FORMAT} manifest)`);
  if (first.formatVersion !== ORG_ARCHIVE_VERSION)
    return bad(
      'manifest',
      0,
      `archive format version ${String(first.formatVersion)}; this gigafab reads version ${ORG_ARCHIVE_VERSION}`,
    );
  const manifest = first as unknown as OrgArchiveManifest;
  if (!Array.isArray(manifest.sections) || manifest.sections.map((s) => s.name).join() !== ORG_ARCHIVE_SECTIONS.join())
    return bad('manifest', 0, `the manifest does not list the sections ${ORG_ARCHIVE_SECTIONS.join(', ')}`, manifest);
  let at = 1;
  const auditLines: string[] = [];
  for (const s of manifest.sections) {
    let h = '';
    for (let n = 1; n <= s.records; n++) {
      let line: unknown;
      try {
        line = JSON.parse(lines[at] ?? 'null');
      } catch {
        return bad(s.name, n, `line ${at + 1} is not JSON`, manifest);
      }
      if (!isObj(line) || line.section !== s.name || line.n !== n)
        return bad(s.name, n, `record ${n} of section ${s.name} is missing (line ${at + 1} is something else)`, manifest);
      h = chainStep(h, line.record);
      if (line.h !== h)
        return bad(
          s.name,
          n,
          `record ${n} of section ${s.name}${recordLabel(line.record)} was altered: its hash does not match`,
          manifest,
        );
      if (s.name === 'audit') auditLines.push(JSON.stringify(line.record));
      at++;
    }
    if ((h || EMPTY) !== s.sha256)
      return bad(s.name, s.records, `section ${s.name} does not end where the manifest says (records cut or added)`, manifest);
  }
  if (at < lines.length) return bad('manifest', 0, `${lines.length - at} lines follow the last section`, manifest);
  const audit = verifyExportLines(auditLines, expectedKeyId);
  if (!audit.ok) {
    const m = /first bad record: (\d+)/.exec(audit.message);
    return {
      ok: false,
      message: `the audit slice does not verify: ${audit.message}`,
      manifest,
      problem: { section: 'audit', n: m ? Number(m[1]) : 0, reason: audit.message },
    };
  }
  if (audit.scope !== manifest.org)
    return bad('audit', 1, `the audit slice is of ${audit.scope}, not of organisation ${manifest.org}`, manifest);
  const counts = manifest.sections.map((s) => `${s.records} ${s.name}`).join(', ');
  return {
    ok: true,
    message: `archive of organisation ${manifest.org} (${manifest.exportedAt}) verifies: ${counts}; audit: ${audit.message}`,
    manifest,
    problem: null,
  };
}
