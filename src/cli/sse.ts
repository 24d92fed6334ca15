/**
 * A small Server-Sent Events parser (WHATWG HTML "event stream interpretation").
 * Feed it text in arbitrary chunks; it returns the events completed by each chunk.
 * Handles CRLF / CR / LF line ends (including a CR at the end of one chunk and its LF
 * at the start of the next), comments, multi-line data, `id` and `retry`.
 */

export interface SseEvent {
  /** `event:` field; `message` when absent. */
  event: string;
  /** `data:` lines joined with `\n`. */
  data: string;
  /** Last event id seen so far in the stream (the `id:` field is sticky per spec). */
  id: string | undefined;
  retry?: number;
}

export class SseParser {
  private buffer = '';
  /** The previous chunk ended with `\r`: a leading `\n` in the next chunk belongs to it. */
  private pendingCr = false;
  private eventType = '';
  private data: string[] = [];
  private hasData = false;
  private lastId: string | undefined;
  private retry: number | undefined;
  private firstChunk = true;

  /** push consumes a chunk of decoded text and returns the events it completed. */
  push(chunk: string): SseEvent[] {
    if (this.firstChunk && chunk.length > 0) {
      this.firstChunk = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.pendingCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCr = false;
    this.buffer += chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
      const ev = this.line(line);
      if (ev) events.push(ev);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** end flushes at end of stream. Per spec an unterminated final event is discarded. */
  end(): SseEvent[] {
    this.buffer = '';
    this.resetEvent();
    return [];
  }

  /** The last event id seen (for Last-Event-ID on reconnect). */
  get lastEventId(): string | undefined {
    return this.lastId;
  }

  private resetEvent(): void {
    this.eventType = '';
    this.data = [];
    this.hasData = false;
    this.retry = undefined;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') {
      // Dispatch.
      if (!this.hasData) {
        this.resetEvent();
        return undefined;
      }
      const ev: SseEvent = { event: this.eventType || 'message', data: this.data.join('\n'), id: this.lastId };
      if (this.retry !== undefined) ev.retry = this.retry;
      this.resetEvent();
      return ev;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }
}

/**
 * parseSseStream decodes a byte stream (UTF-8, split anywhere, even inside a multi-byte
 * character) and yields events as they complete.
 */
export async function* parseSseStream(
  body: AsyncIterable<Uint8Array>,
  parser: SseParser = new SseParser(),
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  for await (const bytes of body) {
    yield* parser.push(decoder.decode(bytes, { stream: true }));
  }
  yield* parser.push(decoder.decode());
  yield* parser.end();
}
