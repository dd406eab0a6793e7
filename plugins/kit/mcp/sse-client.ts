/**
 * The gateway as a legacy HTTP+SSE client (MCP 2024-11-05) of a remote MCP server: one SSE
 * connection per client session, opened with the client's first message. Its first event,
 * `endpoint`, says where to POST (it must be on the server's own origin: a server cannot send the
 * gateway's credentials elsewhere); every later message is a POST there, and everything the server
 * says arrives as `message` events on the stream. The upstream session lives exactly as long as
 * that stream: when it ends, so does the client's session.
 */
import { request, type Dispatcher } from 'undici';
import type { BackendInfo } from './backend.js';
import type { Failure } from './failure.js';
import { INVALID_ANSWER, mediaTypeOf, messagesOf, remoteFailure, requestHeaders, statusFailure, tooLarge } from './remote-http.js';
import { SseParser } from './sse-parser.js';
import { drain, RemoteBackend } from './remote-backend.js';
import { REMOTE_FAILED } from './telemetry.js';

export class LegacySseBackend extends RemoteBackend {
  private endpoint?: Promise<URL>;

  async stop(): Promise<void> {
    this.end();
  }

  describe(): BackendInfo {
    return { kind: 'remote', transport: 'sse', upstream_session: this.endpoint !== undefined && !this.ended };
  }

  protected async deliver(text: string): Promise<void> {
    const message = JSON.parse(text) as Record<string, unknown>;
    const id = typeof message.method === 'string' && (typeof message.id === 'string' || typeof message.id === 'number') ? message.id : undefined;
    const initialize = message.method === 'initialize';
    let endpoint: URL;
    try {
      endpoint = await (this.endpoint ??= this.connect());
    } catch (failure) {
      return this.end({ reason: REMOTE_FAILED, failure: failure as Failure, status: (failure as Failure).data.reason === 'upstream_timeout' ? 504 : 502, requested: false });
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(endpoint, {
        method: 'POST',
        body: text,
        headers: requestHeaders(this.target, { 'content-type': 'application/json' }),
        dispatcher: this.target.dispatcher,
        signal: this.abort.signal,
      });
    } catch (err) {
      return this.failed(id, remoteFailure(err, this.target.timeoutMs), initialize);
    }
    await drain(res.body);
    if (res.statusCode >= 300) this.failed(id, statusFailure(res.statusCode), initialize);
  }

  /** Opens the stream and waits for its `endpoint` event (within the server's timeout); rejects with a Failure. */
  private connect(): Promise<URL> {
    return new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject({ message: `the remote MCP server sent no endpoint event within its timeout (${this.target.timeoutMs / 1000} s)`, data: { reason: 'upstream_timeout' } } satisfies Failure);
        this.abort.abort();
      }, this.target.timeoutMs);
      let found = false;
      const parser = new SseParser(this.maxMessageBytes, (event) => {
        if (event.event === 'endpoint' && !found) {
          found = true;
          clearTimeout(timer);
          let url: URL | undefined;
          try {
            url = new URL(event.data, this.target.url);
          } catch {
            url = undefined;
          }
          if (!url || url.origin !== this.target.url.origin) {
            reject({ message: 'the remote MCP server named an endpoint on another origin; not used', data: { reason: 'upstream_invalid' } } satisfies Failure);
            return;
          }
          this.hooks.sessionCreated();
          resolve(url);
          return;
        }
        if (event.event !== 'message' || event.data === '') return;
        const messages = messagesOf(event.data);
        if (!messages) return this.target.logger.warn('remote mcp server sent an SSE event that is not JSON-RPC; dropped');
        for (const message of messages) {
          const line = messages.length === 1 && !event.data.includes('\n') && !event.data.includes('\r') ? event.data : JSON.stringify(message);
          if (!this.ended) this.events.message(line);
        }
      });
      const fail = (failure: Failure) => {
        clearTimeout(timer);
        if (!found) reject(failure);
        else this.end({ reason: REMOTE_FAILED, failure, status: 502, requested: false });
      };
      request(this.target.url, {
        method: 'GET',
        headers: requestHeaders(this.target, { accept: 'text/event-stream' }),
        dispatcher: this.target.dispatcher,
        signal: this.abort.signal,
      }).then(
        async (res) => {
          const type = mediaTypeOf(res.headers['content-type']);
          if (res.statusCode !== 200 || type !== 'text/event-stream') {
            await drain(res.body);
            return fail(res.statusCode !== 200 ? statusFailure(res.statusCode) : INVALID_ANSWER);
          }
          const outcome = await this.readEvents(res.body, parser);
          if (this.ended) return;
          fail(outcome === 'too-large' ? tooLarge(this.maxMessageBytes) : CLOSED);
        },
        (err: unknown) => fail(remoteFailure(err, this.target.timeoutMs)),
      ).catch((err: unknown) => {
        // Nothing the stream meets may end the process: the session ends instead.
        this.target.logger.error({ err }, 'remote mcp SSE stream failed');
        fail({ message: 'the remote MCP server failed', data: { reason: 'upstream_failed' } });
      });
    });
  }
}

const CLOSED: Failure = { message: 'the remote MCP server closed its SSE stream', data: { reason: 'upstream_closed' } };
