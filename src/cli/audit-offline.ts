/**
 * Offline verification of an audit export file (`gigafab audit verify --file`); the checks are in
 * src/server/audit/offline.ts (shared with the organisation archive).
 */
import { readFile } from 'node:fs/promises';
import { type OfflineReport, verifyExportLines } from '../server/audit/offline.js';
import type { Head } from '../store/audit-chain.js';

export async function verifyExport(path: string, expectedKeyId?: string, since: Head | null = null): Promise<OfflineReport> {
  return verifyExportLines((await readFile(path, 'utf8')).split('\n'), expectedKeyId, since);
}
