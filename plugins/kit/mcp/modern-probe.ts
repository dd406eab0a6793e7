/**
 * The backend over which the gateway's probe (probe.ts) asks a remote server that speaks MCP
 * 2026-07-28 what it offers, for the Admin API's /tools, /resources and /prompts: that server may
 * have no `initialize` to answer. Each request the probe sends goes as one stateless POST (the
 * gateway's `_meta` envelope, `MCP-Protocol-Version`, `Mcp-Method`, the record's headers), and its
 * answer — JSON, or the response among an SSE answer's events — comes back as a message. An
 * answer that is not JSON-RPC comes back as the request's error, so the probe says why at once
 * instead of waiting for its timeout. There is no session: nothing to end but requests in flight.
 */
import { request } from 'undici';
import type { Backend, BackendEvents, BackendInfo } from './backend.js';
import { INTERNAL_ERROR, errorResponse, isObject, type JsonRpcId } from './jsonrpc.js';
import { gatewayMeta, modernRequestHeaders } from './remote-era.js';
import { INVALID_ANSWER, mediaTypeOf, messagesOf, readBounded, remoteFailure, statusFailure, tooLarge, type RemoteTarget } from './remote-http.js';
import { SseParser } from './sse-parser.js';

export class ModernProbeBackend implements Backend {
  readonly started = Promise.resolve();
  readonly backlog = 0;
  private readonly abort = new AbortController();

  constructor(
    private readonly target: RemoteTarget,
    private readonly maxBytes: number,
    private readonly events: BackendEvents,
  ) {}

  send(text: string): void {
    if (this.abort.signal.aborted) return;
    const message = messagesOf(text)?.[0];
    const id = message?.id;
    // Stateless HTTP has no notification a server acts on (the probe's notifications/initialized).
    if (!message || typeof message.method !== 'string' || (typeof id !== 'string' && typeof id !== 'number')) return;
    void this.post(message, message.method, id).catch((err: unknown) => this.answerError(id, remoteFailure(err, this.target.timeoutMs).message));
  }

  pause(): void {}

  resume(): void {}

  async stop(): Promise<void> {
    this.abort.abort();
  }

  describe(): BackendInfo {
    return { kind: 'remote', transport: 'streamable-http', upstream_session: false };
  }

  private async post(message: Record<string, unknown>, method: string, id: JsonRpcId): Promise<void> {
    const params = isObject(message.params) ? message.params : {};
    const res = await request(this.target.url, {
      method: 'POST',
      body: JSON.stringify({ ...message, params: { ...params, _meta: gatewayMeta() } }),
      headers: modernRequestHeaders(this.target, method),
      dispatcher: this.target.dispatcher,
      signal: this.abort.signal,
    });
    const type = mediaTypeOf(res.headers['content-type']);
    const text = await readBounded(res.body, this.maxBytes);
    if (text === undefined) return this.answerError(id, tooLarge(this.maxBytes).message);
    if (type === 'text/event-stream') {
      let answered = false;
      const parser = new SseParser(this.maxBytes, (event) => {
        const answer = messagesOf(event.data)?.[0];
        if (answer?.id !== id || answer.method !== undefined) return;
        answered = true;
        this.events.message(event.data);
      });
      parser.push(text);
      parser.push('\n\n');
      if (!answered) this.answerError(id, res.statusCode >= 400 ? statusFailure(res.statusCode).message : INVALID_ANSWER.message);
      return;
    }
    const answer = messagesOf(text);
    if (answer?.length === 1 && answer[0].id === id) return this.events.message(text);
    this.answerError(id, res.statusCode >= 400 ? statusFailure(res.statusCode).message : INVALID_ANSWER.message);
  }

  private answerError(id: JsonRpcId, message: string): void {
    if (!this.abort.signal.aborted) this.events.message(errorResponse(id, INTERNAL_ERROR, message));
  }
}
