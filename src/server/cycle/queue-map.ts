/**
 * QueueMap: the live queue (job id -> the scheduler's job), counting its jobs per organisation
 * (OrgCountedMap), indexing their ids per organisation and per project, and noting which ids were
 * set or deleted since the cycle last took them. The cycle then builds its shares from the counts,
 * syncs its scheduler from the changed ids, and reads a restricted or budgeted organisation's jobs
 * from the index: the server side of a cycle costs what changed, not the queue length (issue 19).
 */
import type { SchedJob } from '../../scheduler/index.js';
import { OrgCountedMap } from '../org-count-map.js';

const NONE: ReadonlySet<string> = new Set();

export class QueueMap extends OrgCountedMap<SchedJob> {
  private readonly byOrg = new Map<string, Set<string>>();
  private readonly byProject = new Map<string, Set<string>>();
  private changes = new Set<string>();
  /** Cleared since the last take: every id may have changed. */
  private cleared = false;

  override set(key: string, value: SchedJob): this {
    const prior = super.get(key);
    if (prior) this.unindex(key, prior);
    index(this.byOrg, value.org, key);
    index(this.byProject, value.project, key);
    this.note(key);
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    const prior = super.get(key);
    if (!prior) return false;
    this.unindex(key, prior);
    this.note(key);
    return super.delete(key);
  }

  override clear(): void {
    this.byOrg.clear();
    this.byProject.clear();
    this.changes = new Set();
    this.cleared = true;
    super.clear();
  }

  /** Projects with queued jobs. */
  projects(): IterableIterator<string> {
    return this.byProject.keys();
  }

  countOfProject(project: string): number {
    return this.byProject.get(project)?.size ?? 0;
  }

  /** idsOfOrg: the ids of an organisation's queued jobs (a live view: copy it before changing the queue). */
  idsOfOrg(org: string): ReadonlySet<string> {
    return this.byOrg.get(org) ?? NONE;
  }

  /** idsOfProject: the ids of a project's queued jobs (a live view, as idsOfOrg). */
  idsOfProject(project: string): ReadonlySet<string> {
    return this.byProject.get(project) ?? NONE;
  }

  /** takeChanges: the ids set or deleted since the last take (all: null, after a clear). */
  takeChanges(): Set<string> | null {
    const out = this.cleared ? null : this.changes;
    this.changes = new Set();
    this.cleared = false;
    return out;
  }

  private note(key: string): void {
    if (this.cleared) return;
    this.changes.add(key);
    // Nobody took the changes for a long while (a follower replica runs no cycles): one full sync
    // later is cheaper than remembering every id that ever passed through.
    if (this.changes.size > 2 * this.size + 1024) {
      this.cleared = true;
      this.changes = new Set();
    }
  }

  private unindex(key: string, prior: SchedJob): void {
    unindex(this.byOrg, prior.org, key);
    unindex(this.byProject, prior.project, key);
  }
}

function index(m: Map<string, Set<string>>, k: string, id: string): void {
  const s = m.get(k);
  if (s) s.add(id);
  else m.set(k, new Set([id]));
}

function unindex(m: Map<string, Set<string>>, k: string, id: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(id);
  if (s.size === 0) m.delete(k);
}
