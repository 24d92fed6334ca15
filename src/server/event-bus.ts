/** EventBus: in-process fan-out of committed job events to live streams (SSE). */
import { EventEmitter } from 'node:events';
import type { JobEvent } from '../model/schemas.js';

export interface BusEvent {
  org: string;
  event: JobEvent;
  /** Set on the event that moves the job into a terminal state. */
  terminalState?: string;
}

export class EventBus {
  private readonly emitter = new EventEmitter();
  /** Ids of events published here, recent ones only: a replica's event tail skips them (src/server/replica). */
  private readonly published = new Set<number>();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  /** wasPublished: the event already reached this process's subscribers. */
  wasPublished(id: number): boolean {
    return this.published.has(id);
  }
  publish(e: BusEvent): void {
    this.published.add(e.event.id);
    if (this.published.size > 100_000) this.published.delete(this.published.values().next().value as number);
    this.emitter.emit(`job:${e.event.jobId}`, e);
    this.emitter.emit('all', e);
  }
  subscribeJob(jobId: string, fn: (e: BusEvent) => void): () => void {
    this.emitter.on(`job:${jobId}`, fn);
    return () => this.emitter.off(`job:${jobId}`, fn);
  }
  subscribeAll(fn: (e: BusEvent) => void): () => void {
    this.emitter.on('all', fn);
    return () => this.emitter.off('all', fn);
  }
}
