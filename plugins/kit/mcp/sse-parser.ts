/**
 * Reads a `text/event-stream` body (WHATWG HTML, "Server-sent events", the parsing rules) from a
 * remote MCP server, bounded: an event whose data grows past `maxEventBytes` is an error rather
 * than memory the remote decides about. Lines end in CRLF, LF or CR; `:` lines are comments;
 * several `data:` lines join with a newline; `id` and `retry` are kept for reconnection.
 */

export interface SseEvent {
  /** `message` unless the event names another. */
  readonly event: string;
  readonly data: string;
  /** The stream's last event id after this event (for Last-Event-ID), if it has one. */
  readonly lastEventId?: string;
}

export class SseTooLarge extends Error {
  override name = 'SseTooLarge';
}

export class SseParser {
  /** The last `retry:` the server asked for, in ms. */
  retryMs?: number;
  lastEventId?: string;
  private buffer = '';
  private data: string[] = [];
  private dataBytes = 0;
  private event = '';
  private sawCr = false;

  constructor(
    private readonly maxEventBytes: number,
    private readonly onEvent: (event: SseEvent) => void,
  ) {}

  /** Feeds decoded text; throws SseTooLarge past the bound. */
  push(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 && this.sawCr) {
        // The LF of a CRLF whose CR ended the line already.
        this.sawCr = false;
        start = i + 1;
        continue;
      }
      this.sawCr = false;
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer + text.slice(start, i));
      this.buffer = '';
      start = i + 1;
      if (c === 13) this.sawCr = true;
    }
    this.buffer += text.slice(start);
    if (this.buffer.length > this.maxEventBytes) throw new SseTooLarge(`an SSE line longer than ${this.maxEventBytes} bytes`);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataBytes += value.length + 1;
        if (this.dataBytes > this.maxEventBytes) throw new SseTooLarge(`an SSE event larger than ${this.maxEventBytes} bytes`);
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
  }

  private dispatch(): void {
    const data = this.data.join('\n');
    const event = this.event || 'message';
    const hadData = this.data.length > 0;
    this.data = [];
    this.dataBytes = 0;
    this.event = '';
    if (hadData) this.onEvent({ event, data, lastEventId: this.lastEventId });
  }
}
