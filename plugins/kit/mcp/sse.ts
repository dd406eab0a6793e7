/**
 * One open SSE response: framing, keep-alive comments, and the backpressure signal the session
 * uses to pause its child. Data lines never contain CR or LF (the session guarantees it), so one
 * `data:` line carries one JSON-RPC message.
 */
import type { ServerResponse } from 'node:http';

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // nginx and friends must not buffer the stream.
  'x-accel-buffering': 'no',
};

export class SseConnection {
  /** performance.now() of the last write. */
  lastWrite = performance.now();
  /** Set while the socket does not take more data (performance.now()). */
  blockedSince?: number;
  private closedFlag = false;
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.res.uncork();
  };
  private readonly closeHandlers: Array<(finished: boolean) => void> = [];
  private readonly drainHandlers: Array<() => void> = [];

  constructor(readonly res: ServerResponse) {
    res.once('close', () => {
      this.closedFlag = true;
      this.blockedSince = undefined;
      const finished = res.writableFinished;
      for (const handler of this.closeHandlers) handler(finished);
      for (const handler of this.drainHandlers) handler();
      this.drainHandlers.length = 0;
    });
    res.on('drain', () => {
      this.blockedSince = undefined;
      const handlers = this.drainHandlers.splice(0);
      for (const handler of handlers) handler();
    });
    res.on('error', () => undefined);
  }

  get closed(): boolean {
    return this.closedFlag || this.res.writableEnded || this.res.destroyed;
  }

  /** Called once when the response closes; `finished` is true when everything was flushed. */
  onClose(handler: (finished: boolean) => void): void {
    this.closeHandlers.push(handler);
  }

  /** Called once when the socket takes data again, or when the connection closes. */
  onDrain(handler: () => void): void {
    if (!this.blockedSince || this.closed) handler();
    else this.drainHandlers.push(handler);
  }

  /** Writes one event; false means the socket is full (wait for onDrain). */
  event(data: string, id?: string, name?: string): boolean {
    let frame = id === undefined ? '' : `id: ${id}\n`;
    if (name !== undefined) frame += `event: ${name}\n`;
    frame += `data: ${data}\n\n`;
    return this.write(frame);
  }

  keepAlive(): void {
    if (!this.blockedSince) this.write(': keep-alive\n\n');
  }

  end(): void {
    if (!this.closed) this.res.end();
  }

  destroy(): void {
    if (!this.res.destroyed) this.res.destroy();
  }

  private write(frame: string): boolean {
    if (this.closed) return true;
    this.lastWrite = performance.now();
    // The lines of one stdout read arrive in one tick: send them in one writev, not one each.
    if (!this.corked) {
      this.corked = true;
      this.res.cork();
      process.nextTick(this.uncork);
    }
    const ok = this.res.write(frame);
    if (!ok) this.blockedSince ??= this.lastWrite;
    return ok;
  }
}
