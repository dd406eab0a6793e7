/**
 * What the two remote transports' backends (Streamable HTTP, legacy HTTP+SSE) share: sending a
 * client message without waiting, pausing their SSE reads while the client does not read, a
 * failed request answered with its JSON-RPC error, and ending once, whoever ends first.
 */
import type { Dispatcher } from 'undici';
import type { Backend, BackendEnd, BackendEvents, BackendInfo } from './backend.js';
import type { Failure } from './failure.js';
import { CONNECTION_CLOSED, errorResponse, type JsonRpcId } from './jsonrpc.js';
import type { RemoteTarget } from './remote-http.js';
import { SseTooLarge, type SseParser } from './sse-parser.js';
import { REMOTE_FAILED } from './telemetry.js';

export type Body = Dispatcher.ResponseData['body'];

/** What a remote backend tells the server it belongs to. */
export interface RemoteHooks {
  /** An upstream session was created (the client's initialize, or a re-creation after a 404). */
  sessionCreated(): void;
  /** Something went wrong that the session survives (an answer lost, a session re-created). */
  trouble(message: string): void;
}

/** The end of a session its client (or the gateway) stopped. */
const STOPPED: BackendEnd = { reason: 'the session ended', status: 502, requested: true };

export abstract class RemoteBackend implements Backend {
  readonly started = Promise.resolve();
  protected readonly abort = new AbortController();
  protected ended = false;
  private endSaid = false;
  private paused = false;
  private resumeWaiters: Array<() => void> = [];

  constructor(
    protected readonly target: RemoteTarget,
    protected readonly maxMessageBytes: number,
    protected readonly events: BackendEvents,
    protected readonly hooks: RemoteHooks,
  ) {}

  abstract stop(): Promise<void>;
  abstract describe(): BackendInfo;
  /** Sends one client message upstream; a failure to deliver it is answered through `failed`. */
  protected abstract deliver(text: string): Promise<void>;

  get backlog(): number {
    return 0;
  }

  send(text: string): void {
    if (this.ended) return;
    this.deliver(text).catch((err: unknown) => {
      if (!this.ended) this.target.logger.error({ err }, 'remote mcp message could not be delivered');
    });
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const wake of this.resumeWaiters.splice(0)) wake();
  }

  /** Stops every request and read in flight; nothing more is sent or delivered. */
  protected halt(): void {
    this.ended = true;
    this.abort.abort();
    this.resume();
  }

  /** Tells the session its backend ended, once: the first end is the one it hears. */
  protected announce(end: BackendEnd = STOPPED): void {
    if (this.endSaid) return;
    this.endSaid = true;
    this.events.ended(end);
  }

  protected end(end: BackendEnd = STOPPED): void {
    this.halt();
    this.announce(end);
  }

  /**
   * A message could not be delivered or answered. An initialize that fails ends the backend (the
   * client gets 502/504 and no session); a request gets a JSON-RPC error and the session goes on.
   */
  protected failed(id: JsonRpcId | undefined, failure: Failure, initialize: boolean): void {
    if (this.ended) return;
    if (initialize) {
      const status = failure.data.reason === 'upstream_timeout' ? 504 : 502;
      return this.end({ reason: REMOTE_FAILED, failure, status, requested: false });
    }
    this.hooks.trouble(failure.message);
    if (id !== undefined) this.events.message(errorResponse(id, CONNECTION_CLOSED, failure.message, failure.data), id);
    else this.target.logger.warn({ reason: failure.data.reason }, `remote mcp notification not delivered: ${failure.message}`);
  }

  /** Feeds a stream to `parser` until it ends, waiting while the client does not read. */
  protected async readEvents(body: Body, parser: SseParser): Promise<'ended' | 'too-large'> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        parser.push(decoder.decode(chunk as Buffer, { stream: true }));
        if (this.paused) await new Promise<void>((wake) => this.resumeWaiters.push(wake));
        if (this.ended) break;
      }
    } catch (err) {
      if (err instanceof SseTooLarge) {
        body.destroy();
        return 'too-large';
      }
      // The connection dropped, or the session is stopping: the caller decides.
    }
    return 'ended';
  }
}

/** Reads an answer's body to its end, so its connection can serve again. */
export async function drain(body: Body): Promise<void> {
  try {
    await body.dump();
  } catch {
    // The connection went away: nothing to read.
  }
}
