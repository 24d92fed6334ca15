import type { Store } from '../../store/open-store.js';

/**
 * logKey: the key one attempt's output is sealed with on the site's disk, derived from the org's
 * data key (nothing stored: erasing the org's keys makes the output unreadable). undefined without
 * sealing; for a start (`starting`) of an erased org it refuses rather than write output in clear.
 */
export async function logKey(
  store: Store,
  org: string,
  id: string,
  attempt: number,
  starting: boolean,
): Promise<Buffer | undefined> {
  const f = store.fields;
  if (!f.sealing) return undefined;
  const derive = () => f.deriveKey(org, 'job.output', `job ${id} attempt ${attempt}`);
  let key: Buffer | null;
  try {
    key = derive(); // null once erased (ready would make the erased org a new key)
  } catch {
    await f.ready(org); // not loaded yet (an org whose rows predate sealing)
    key = derive();
  }
  if (!key && starting) throw new Error(`organisation ${org} was erased: its job output cannot be sealed`);
  return key ?? undefined;
}
