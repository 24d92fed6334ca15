/**
 * QueueMap: the live queue (job id -> the scheduler's job), counting its jobs per organisation
 * (OrgCountedMap) and per project, and noting which ids were set or deleted since the cycle last
 * took them. The cycle then builds its shares from the counts and syncs its scheduler from the
 * changed ids: the server side of a cycle costs what changed, not the queue length (issue 19).
 */
import type { SchedJob } from '../../scheduler/index.js';
import { OrgCountedMap } from '../org-count-map.js';

export class QueueMap extends OrgCountedMap<SchedJob> {
  private readonly projectCounts = new Map<string, number>();
  private changes = new Set<string>();
  /** Cleared since the last take: every id may have changed. */
  private cleared = false;

  override set(key: string, value: SchedJob): this {
    const prior = super.get(key);
    if (prior) this.bumpProject(prior.project, -1);
    this.bumpProject(value.project, 1);
    this.note(key);
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    const prior = super.get(key);
    if (!prior) return false;
    this.bumpProject(prior.project, -1);
    this.note(key);
    return super.delete(key);
  }

  override clear(): void {
    this.projectCounts.clear();
    this.changes = new Set();
    this.cleared = true;
    super.clear();
  }

  /** Projects with queued jobs. */
  projects(): IterableIterator<string> {
    return this.projectCounts.keys();
  }

  countOfProject(project: string): number {
    return this.projectCounts.get(project) ?? 0;
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

  private bumpProject(project: string, by: number): void {
    const n = (this.projectCounts.get(project) ?? 0) + by;
    if (n > 0) this.projectCounts.set(project, n);
    else this.projectCounts.delete(project);
  }
}
