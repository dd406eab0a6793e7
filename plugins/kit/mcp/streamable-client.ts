/**
 * The gateway as a Streamable HTTP client of a remote MCP server (transports spec, 2025-11-25):
 * one upstream session per client session, created when the client's `initialize` passes through,
 * ended (DELETE) with the client's session.
 *
 * Every client message is one POST. What comes back goes to the session as it comes: a JSON
 * answer, or the events of an SSE answer — each marked as belonging to the request that carried
 * it, so notifications and server→client requests (progress, logging, sampling, elicitation) go
 * to that request's stream. The standalone GET stream carries the rest, reopened with
 * Last-Event-ID when it drops; a POST stream that ends before its response is resumed the same
 * way. Ids, tokens and requests pass unchanged both ways: the upstream session is this client's
 * alone. The upstream's session id is the backend's; the client never sees it.
 *
 * An upstream that answers 404 for our session id has ended it (transports spec: the client "MUST
 * start a new session"): the backend initializes a new one with the client's original
 * `initialize` parameters, unseen by the client, and sends the message again, once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import type { BackendInfo } from './backend.js';
import type { Failure } from './failure.js';
import type { JsonRpcId } from './jsonrpc.js';
import { INVALID_ANSWER, STREAM_CUT, mediaTypeOf, messagesOf, readBounded, remoteFailure, requestHeaders, statusFailure, tooLarge } from './remote-http.js';
import { SseParser } from './sse-parser.js';
import { drain, RemoteBackend, type Body } from './remote-backend.js';
import { REMOTE_FAILED } from './telemetry.js';


/** Resumptions of one POST stream (Last-Event-ID) before its request is answered with an error. */
const MAX_RESUMPTIONS = 2;
/** Upstream sessions re-created after a 404, per client session. */
const MAX_RECREATIONS = 3;
const GET_RETRY_MS = 1000;
const GET_RETRY_MAX_MS = 30_000;

export class StreamableHttpBackend extends RemoteBackend {
  private upstreamSession?: string;
  private protocolVersion?: string;
  /** The client's initialize params, to create the upstream session again after a 404. */
  private initParams?: unknown;
  /** While the upstream session is being created, other messages wait. */
  private creating?: Promise<void>;
  private recreations = 0;
  private getStreamOpen = false;
  private stopping?: Promise<void>;

  stop(): Promise<void> {
    this.stopping ??= this.runStop();
    return this.stopping;
  }

  describe(): BackendInfo {
    return { kind: 'remote', transport: 'streamable-http', upstream_session: this.upstreamSession !== undefined };
  }

  protected async deliver(text: string): Promise<void> {
    const message = JSON.parse(text) as Record<string, unknown>;
    const id = requestIdOf(message);
    if (message.method === 'initialize' && id !== undefined) {
      this.initParams = message.params;
      const created = this.post(text, id, { initialize: true });
      const creating = created.then(
        () => undefined,
        () => undefined,
      );
      this.creating = creating;
      void creating.then(() => {
        if (this.creating === creating) this.creating = undefined;
      });
      return created;
    }
    if (this.creating) await this.creating;
    await this.post(text, id, { initialize: false });
    if (message.method === 'notifications/initialized') this.watchGetStream();
  }

  /** POSTs one message and hands what comes back to the session; `retried` after a re-created session. */
  private async post(text: string, id: JsonRpcId | undefined, options: { initialize: boolean; retried?: boolean }): Promise<void> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.target.url, {
        method: 'POST',
        body: text,
        headers: this.headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, !options.initialize),
        dispatcher: this.target.dispatcher,
        signal: this.abort.signal,
      });
    } catch (err) {
      if (!this.ended) this.failed(id, remoteFailure(err, this.target.timeoutMs), options.initialize);
      return;
    }
    if (options.initialize && res.statusCode < 300) {
      const session = res.headers['mcp-session-id'];
      if (typeof session === 'string') {
        this.upstreamSession = session;
        this.hooks.sessionCreated();
      }
    }
    if (res.statusCode === 404 && !options.initialize && this.upstreamSession !== undefined && !options.retried) {
      await drain(res.body);
      if (await this.recreate()) return this.post(text, id, { initialize: false, retried: true });
      return this.end({ reason: REMOTE_FAILED, failure: SESSION_LOST, status: 502, requested: false });
    }
    if (res.statusCode >= 400) {
      await drain(res.body);
      return this.failed(id, statusFailure(res.statusCode), options.initialize);
    }
    if (id === undefined || res.statusCode === 202) return drain(res.body);
    const type = mediaTypeOf(res.headers['content-type']);
    if (type === 'text/event-stream') return this.readPostStream(res.body, id, options.initialize);
    if (type !== 'application/json') {
      await drain(res.body);
      return this.failed(id, INVALID_ANSWER, options.initialize);
    }
    const body = await readBounded(res.body, this.maxMessageBytes).catch(() => undefined);
    if (body === undefined) return this.failed(id, this.ended ? INVALID_ANSWER : tooLarge(this.maxMessageBytes), options.initialize);
    const messages = messagesOf(body);
    if (!messages) return this.failed(id, INVALID_ANSWER, options.initialize);
    for (const message of messages) this.receive(message, messages.length === 1 ? body : undefined, id);
  }

  /**
   * The SSE answer to request `id`: its events go to the session as they come. A stream that ends
   * before the response is resumed from its last event id (GET + Last-Event-ID), a few times.
   */
  private async readPostStream(body: Body, id: JsonRpcId, initialize: boolean): Promise<void> {
    let answered = false;
    const parser = new SseParser(this.maxMessageBytes, (event) => {
      if (event.event !== 'message' || event.data === '') return;
      const messages = messagesOf(event.data);
      if (!messages) return this.target.logger.warn('remote mcp server sent an SSE event that is not JSON-RPC; dropped');
      for (const message of messages) {
        if (message.id === id && message.method === undefined) answered = true;
        this.receive(message, messages.length === 1 ? event.data : undefined, id);
      }
    });
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.readEvents(body, parser);
      if (outcome === 'too-large') return this.failed(id, tooLarge(this.maxMessageBytes), initialize);
      if (answered || this.ended) return;
      if (parser.lastEventId === undefined || attempt >= MAX_RESUMPTIONS) return this.failed(id, STREAM_CUT, initialize);
      await this.pauseFor(parser.retryMs ?? GET_RETRY_MS);
      const resumed = await this.get(parser.lastEventId).catch(() => undefined);
      if (!resumed || resumed === 'none') return this.failed(id, STREAM_CUT, initialize);
      body = resumed;
    }
  }

  /** Follows the GET stream in the background; nothing it meets may end the process. */
  private watchGetStream(): void {
    this.followGetStream().catch((err: unknown) => {
      if (!this.ended) this.target.logger.error({ err }, 'remote mcp GET stream failed');
    });
  }

  /** The standalone GET stream, reopened (with Last-Event-ID) while the session lives; a 405 means there is none. */
  private async followGetStream(): Promise<void> {
    if (this.getStreamOpen || this.ended || this.upstreamSession === undefined) return;
    this.getStreamOpen = true;
    const parser = new SseParser(this.maxMessageBytes, (event) => {
      if (event.event !== 'message' || event.data === '') return;
      const messages = messagesOf(event.data);
      if (!messages) return this.target.logger.warn('remote mcp server sent an SSE event that is not JSON-RPC; dropped');
      for (const message of messages) this.receive(message, messages.length === 1 ? event.data : undefined, undefined);
    });
    let delay = GET_RETRY_MS;
    try {
      while (!this.ended && this.upstreamSession !== undefined) {
        let body: Body | 'none' | undefined;
        try {
          body = await this.get(parser.lastEventId);
        } catch {
          body = undefined;
        }
        if (body === 'none' || this.ended) return;
        if (body) {
          delay = GET_RETRY_MS;
          if ((await this.readEvents(body, parser)) === 'too-large') {
            return this.end({ reason: REMOTE_FAILED, failure: tooLarge(this.maxMessageBytes), status: 502, requested: false });
          }
        }
        await this.pauseFor(parser.retryMs ?? delay);
        delay = Math.min(delay * 1.5, GET_RETRY_MAX_MS);
      }
    } finally {
      this.getStreamOpen = false;
    }
  }

  /** A GET of the session's stream; 'none' when the server offers none (405) or forgot the session (404). */
  private async get(lastEventId: string | undefined): Promise<Body | 'none'> {
    const own: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) own['last-event-id'] = lastEventId;
    const res = await request(this.target.url, { method: 'GET', headers: this.headers(own, true), dispatcher: this.target.dispatcher, signal: this.abort.signal });
    if (res.statusCode === 405 || res.statusCode === 404) {
      await drain(res.body);
      return 'none';
    }
    if (res.statusCode !== 200 || mediaTypeOf(res.headers['content-type']) !== 'text/event-stream') {
      await drain(res.body);
      throw new Error(`GET answered ${res.statusCode}`);
    }
    return res.body;
  }

  /**
   * The upstream forgot our session: initialize a new one with the client's parameters (its
   * answer stays here) and announce it initialized. One at a time; false when it cannot be done.
   */
  private recreate(): Promise<boolean> {
    if (this.creating) return this.creating.then(() => this.upstreamSession !== undefined && !this.ended);
    if (this.initParams === undefined || this.recreations >= MAX_RECREATIONS) return Promise.resolve(false);
    this.recreations += 1;
    const lost = this.upstreamSession;
    this.upstreamSession = undefined;
    const attempt = (async () => {
      const id = `tollgate-reinit-${this.recreations}`;
      const res = await request(this.target.url, {
        method: 'POST',
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: this.initParams }),
        headers: this.headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, false),
        dispatcher: this.target.dispatcher,
        signal: this.abort.signal,
      });
      const session = res.headers['mcp-session-id'];
      await drain(res.body);
      if (res.statusCode >= 300 || typeof session !== 'string') return false;
      this.upstreamSession = session;
      this.hooks.sessionCreated();
      this.hooks.trouble('the remote MCP server lost a session; the gateway created a new one');
      const done = await request(this.target.url, {
        method: 'POST',
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
        headers: this.headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, true),
        dispatcher: this.target.dispatcher,
        signal: this.abort.signal,
      });
      await drain(done.body);
      this.target.logger.info({ lost: lost !== undefined }, 'remote mcp session re-created after a 404');
      this.watchGetStream();
      return true;
    })().catch(() => false);
    this.creating = attempt.then(() => undefined);
    return attempt.finally(() => (this.creating = undefined));
  }

  /**
   * Hands one message to the session (`text` when it is the message's own text, one line); the
   * version of an initialize answer is sent from then on.
   */
  private receive(message: Record<string, unknown>, text: string | undefined, relatedTo: JsonRpcId | undefined): void {
    if (this.ended) return;
    const result = message.result as { protocolVersion?: unknown; serverInfo?: unknown } | undefined;
    if (typeof result?.protocolVersion === 'string' && result.serverInfo !== undefined) this.protocolVersion = result.protocolVersion;
    const line = text === undefined || text.includes('\n') || text.includes('\r') ? JSON.stringify(message) : text;
    this.events.message(line, relatedTo);
  }

  private async runStop(): Promise<void> {
    const session = this.upstreamSession;
    this.halt();
    if (session !== undefined) {
      // DELETE ends the upstream session at once (the transports spec's SHOULD); a server that
      // does not (405) lets it expire. Bounded by the server's timeout.
      try {
        const res = await request(this.target.url, {
          method: 'DELETE',
          headers: this.headers({}, true),
          dispatcher: this.target.dispatcher,
          signal: AbortSignal.timeout(this.target.timeoutMs),
        });
        await drain(res.body);
      } catch {
        // Gone already, or unreachable: nothing more to do.
      }
    }
    this.announce();
  }

  private headers(own: Record<string, string>, withSession: boolean): Record<string, string> {
    const headers = requestHeaders(this.target, own);
    if (withSession && this.upstreamSession !== undefined) headers['mcp-session-id'] = this.upstreamSession;
    if (withSession && this.protocolVersion !== undefined) headers['mcp-protocol-version'] = this.protocolVersion;
    return headers;
  }

  private async pauseFor(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch {
      // Stopped meanwhile.
    }
  }
}

const SESSION_LOST: Failure = {
  message: 'the remote MCP server ended the session and a new one could not be created',
  data: { reason: 'upstream_session_lost' },
};

function requestIdOf(message: Record<string, unknown>): JsonRpcId | undefined {
  if (typeof message.method !== 'string') return undefined;
  const id = message.id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}
