/**
 * The gateway's own `subscriptions/listen` stream to a remote MCP 2026-07-28 server, so that what
 * the routes cached of its lists (list-cache.ts) is forgotten as soon as the server says a list
 * changed (2026-07-28 server/utilities/caching, "Interaction with Notifications"): one per remote
 * server, opened when a route first caches one of its lists, with the record's headers like every
 * request to it. A stream that ends or cannot be opened makes every cached list stale (a change
 * may have been missed meanwhile); it is opened again at the next list the routes cache, not
 * sooner than RETRY_MS after the last attempt, and closed while no route uses the server. A server
 * with no such stream still has its lists cached for their ttlMs, as the spec allows.
 */
import { request } from 'undici';
import { LIST_CHANGED } from './jsonrpc.js';
import { gatewayMeta, modernRequestHeaders } from './remote-era.js';
import { mediaTypeOf, messagesOf, type RemoteTarget } from './remote-http.js';
import type { ListMethod } from './server.js';
import { SseParser } from './sse-parser.js';

const EVERY_LIST: readonly ListMethod[] = Object.values(LIST_CHANGED);
const RETRY_MS = 1000;
/** A server that refuses the stream is asked again at most this often. */
const REFUSED_RETRY_MAX_MS = 60_000;
/** A list_changed notification is small; a bigger event ends the stream. */
const MAX_EVENT_BYTES = 65536;

export class ListChangeListener {
  private running = false;
  private lastAttempt = -Infinity;
  private retryMs = RETRY_MS;
  private closed = false;
  /** Ends the open stream. */
  private stream?: AbortController;

  constructor(
    private readonly target: () => RemoteTarget,
    private readonly changed: (method: ListMethod) => void,
  ) {}

  /** Listens, unless it already does, was closed, or tried too recently. */
  ensure(): void {
    const now = performance.now();
    if (this.running || this.closed || now - this.lastAttempt < this.retryMs) return;
    this.running = true;
    this.lastAttempt = now;
    const opened = { value: false };
    const stream = new AbortController();
    this.stream = stream;
    void this.listen(opened, stream.signal)
      .catch(() => undefined)
      .finally(() => {
        this.running = false;
        if (this.closed) return;
        // A stream that was open may have missed a change while it ends: nothing cached is trusted.
        if (opened.value) {
          this.retryMs = RETRY_MS;
          for (const method of EVERY_LIST) this.changed(method);
        } else {
          this.retryMs = Math.min(this.retryMs * 2, REFUSED_RETRY_MAX_MS);
        }
      });
  }

  /** No route uses the server any more: no stream held open for it (the next cached list opens one). */
  stop(): void {
    this.stream?.abort();
  }

  close(): void {
    this.closed = true;
    this.stream?.abort();
  }

  private async listen(opened: { value: boolean }, signal: AbortSignal): Promise<void> {
    const target = this.target();
    const res = await request(target.url, {
      method: 'POST',
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'tollgate-list-changes',
        method: 'subscriptions/listen',
        params: { notifications: { toolsListChanged: true, resourcesListChanged: true, promptsListChanged: true }, _meta: gatewayMeta() },
      }),
      headers: modernRequestHeaders(target, 'subscriptions/listen'),
      dispatcher: target.dispatcher,
      signal,
    });
    const type = mediaTypeOf(res.headers['content-type']);
    if (res.statusCode !== 200 || type !== 'text/event-stream') {
      await res.body.dump().catch(() => undefined);
      target.logger.debug({ status: res.statusCode }, 'remote mcp server offers no subscriptions/listen stream; its cached lists live by their ttlMs alone');
      return;
    }
    opened.value = true;
    const parser = new SseParser(MAX_EVENT_BYTES, (event) => {
      const method = messagesOf(event.data)?.[0]?.method;
      const stale = typeof method === 'string' ? LIST_CHANGED[method] : undefined;
      if (stale) this.changed(stale);
    });
    const decoder = new TextDecoder();
    for await (const chunk of res.body) parser.push(decoder.decode(chunk as Buffer, { stream: true }));
  }
}
