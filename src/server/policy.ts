/** Reading the scheduling policy file (YAML); the schema lives in src/model/policy.ts. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_POLICY, type Policy, PolicySchema } from '../model/policy.js';

export { DEFAULT_POLICY, type Policy, PolicySchema, toLimitTable } from '../model/policy.js';

export function loadPolicyFile(path: string | undefined): Policy {
  if (!path) return DEFAULT_POLICY;
  const parsed = PolicySchema.safeParse(parse(readFileSync(path, 'utf8')) ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(`invalid policy file ${path}: ${first?.path.join('.')}: ${first?.message}`);
  }
  return parsed.data;
}
