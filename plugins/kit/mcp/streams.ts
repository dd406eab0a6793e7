/**
 * The SSE streams of a Streamable HTTP session and the bounded log behind their resumability.
 *
 * A stream is logical: a POST request's stream lives until its response has been delivered, and
 * the standalone (GET) stream as long as the session; a connection (an HTTP response) attaches
 * to one and may drop and be replaced by a GET carrying Last-Event-ID. Every event gets a
 * session-wide sequence number; its id `<stream>-<seq>` names the stream, so a resumption replays
 * only that stream's events (transports spec, "Resumability and Redelivery").
 *
 * Events are kept while they may still be needed: not yet written anywhere, or written on a
 * stream that is still live (its connection may drop before the client read them). A POST
 * stream whose response was flushed to its connection is forgotten at once. The total is capped
 * per session by `mcp.resume_buffer_bytes`, oldest first; with 0 nothing is kept and no event
 * ids are sent.
 */
import type { SseConnection } from './sse.js';

export interface SseEvent {
  readonly seq: number;
  readonly stream: Stream;
  /** Emptied when the event is dropped, so a dropped event still queued holds no payload. */
  data: string;
  readonly bytes: number;
  dropped: boolean;
}

export class Stream {
  /** Events of this stream still held by the log, oldest first. */
  events: SseEvent[] = [];
  connection?: SseConnection;
  /** Seq of the last event written to a connection. */
  lastWritten = 0;
  /** POST streams: the response has been appended; the stream ends once it is written. */
  complete = false;
  /** POST streams: responses still to come (several for a batch) before the stream is complete. */
  awaiting = 1;
  /** While a connection is being attached (headers in flight), its events must not be evicted. */
  pinned = false;

  constructor(
    readonly id: number,
    readonly standalone: boolean,
  ) {}
}

export class EventLog {
  private queue: SseEvent[] = [];
  private head = 0;
  private live = 0;
  private bytes = 0;
  private seq = 0;

  constructor(readonly budget: number) {}

  get resumable(): boolean {
    return this.budget > 0;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Keeps `event` until it is released or evicted (oldest first, past the budget). */
  hold(event: SseEvent): void {
    event.stream.events.push(event);
    this.queue.push(event);
    this.live += 1;
    this.bytes += event.bytes;
    this.trim();
  }

  /** Forgets every event of `stream` (its response reached the client, or the session ends). */
  release(stream: Stream): void {
    for (const event of stream.events) this.drop(event);
    stream.events = [];
    this.compact();
  }

  /** Forgets the events of `stream` up to and including `seq`. */
  releaseUpTo(stream: Stream, seq: number): void {
    let n = 0;
    while (n < stream.events.length && stream.events[n].seq <= seq) this.drop(stream.events[n++]);
    if (n > 0) stream.events = stream.events.slice(n);
    this.compact();
  }

  private drop(event: SseEvent): void {
    if (event.dropped) return;
    event.dropped = true;
    event.data = '';
    this.live -= 1;
    this.bytes -= event.bytes;
  }

  private trim(): void {
    while (this.bytes > this.budget && this.head < this.queue.length) {
      const event = this.queue[this.head];
      if (!event.dropped && event.stream.pinned) break;
      this.head += 1;
      if (event.dropped) continue;
      this.drop(event);
      // The oldest held event of the log is the oldest of its stream.
      const events = event.stream.events;
      if (events[0] === event) events.shift();
      else event.stream.events = events.filter((e) => !e.dropped);
    }
    this.compact();
  }

  /** Dropped events stay queued until passed; keep their number in proportion to the live ones. */
  private compact(): void {
    while (this.head < this.queue.length && this.queue[this.head].dropped) this.head += 1;
    const queued = this.queue.length - this.head;
    if (this.head > 1024 || queued > 2 * this.live + 256) {
      this.queue = this.queue.slice(this.head).filter((e) => !e.dropped);
      this.head = 0;
    }
  }
}

/** `<stream>-<seq>`: visible ASCII, unique across the session's streams. */
export function eventId(event: SseEvent): string {
  return `${event.stream.id}-${event.seq}`;
}

export function parseEventId(value: string): { stream: number; seq: number } | undefined {
  const match = /^(\d{1,9})-(\d{1,15})$/.exec(value.trim());
  return match ? { stream: Number(match[1]), seq: Number(match[2]) } : undefined;
}
