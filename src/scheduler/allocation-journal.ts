/**
 * AllocationJournal: the ids a ClusterModel gave an allocation (allocate, putBack) since the
 * journal was opened (ClusterModel.openJournal) or last cleared, so that a reader can ask "does any
 * of these now belong to X" instead of reading every allocation. Bounded: past `limit` ids it
 * stops recording and says so (ids undefined), and the reader must look at everything.
 */
export class AllocationJournal {
  private list: string[] | undefined = [];
  /** While paused nothing is recorded: the reader vouches for what is allocated meanwhile. */
  paused = false;

  constructor(private readonly limit = 4096) {}

  /** note records that `jobId` was given an allocation. */
  note(jobId: string): void {
    if (this.paused || !this.list) return;
    if (this.list.length >= this.limit) this.list = undefined;
    else this.list.push(jobId);
  }

  /** ids: the ids recorded since the last clear (repeats possible), or undefined when over the limit. */
  get ids(): readonly string[] | undefined {
    return this.list;
  }

  /** clear starts a new record. */
  clear(): void {
    this.list = [];
  }
}
