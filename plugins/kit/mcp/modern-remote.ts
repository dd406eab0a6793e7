/**
 * MCP 2026-07-28 requests to a remote server that speaks 2026-07-28 itself (remote-era.ts): each
 * goes on as a modern request of its own — one POST with `MCP-Protocol-Version`, `Mcp-Method`,
 * `Mcp-Name` (and the client's `Mcp-Param-*`), the body as the client sent it (`_meta`, id,
 * progress token and `requestState` intact: a stateless request needs no rewriting). As on every
 * request to a remote server, nothing of the client's HTTP request reaches it but that: the
 * credentials are the record's `headers`, never the client's.
 *
 * The answer comes back as the server gave it, JSON or SSE, with the route's message filters
 * applied (a refused request went as a stand-in, a list keeps what the filters keep). Closing the
 * response stream is cancellation (2026-07-28 basic/transports): the client leaving aborts the
 * request to the server. List results the server marks cacheable may be answered from the
 * route's cache (list-cache.ts). A server that refuses the request as a legacy server would (a
 * 4xx without a modern error, an UnsupportedProtocolVersionError without 2026-07-28) makes the
 * gateway learn its era again.
 */
import { request, type Dispatcher } from 'undici';
import type { GatewayContext, McpRequestInfo } from '../../../core/context.js';
import { GatewayError, clientGone } from '../../../core/errors.js';
import { NAMED_BY } from '../../../core/mcp.js';
import { MCP_ERRORS } from './errors.js';
import { consumerOf, openSse, reporter } from './http.js';
import { CONNECTION_CLOSED, LIST_CHANGED, REQUEST_TIMEOUT, UNSUPPORTED_PROTOCOL_VERSION, errorResponse, isObject, mcpHttpError } from './jsonrpc.js';
import { ListCache, cacheableRequest, type CacheQuery } from './list-cache.js';
import { filterListAnswer, isFilteredList, standIn } from './message-filters.js';
import { encodeHeader, modernRequestHeaders, offersModern } from './remote-era.js';
import { INVALID_ANSWER, mediaTypeOf, messagesOf, readBounded, remoteFailure, statusFailure, STREAM_CUT, tooLarge } from './remote-http.js';
import type { RemoteUpstream } from './remote-upstream.js';
import { LIST_CACHE_FIELDS, type BridgeConf } from './schema.js';
import type { ListMethod } from './server.js';
import type { SessionManager } from './sessions.js';
import { SseParser, SseTooLarge } from './sse-parser.js';
import { toolCallInfo, toolCallOutcome } from './telemetry.js';

/** Methods whose answer is a long-lived stream, not bounded by request_timeout. */
const LONG_LIVED = new Set(['subscriptions/listen']);

/** The remote server of the route, when it speaks MCP 2026-07-28 (asked once per definition). */
export async function modernRemoteOf(manager: SessionManager): Promise<RemoteUpstream | undefined> {
  const remote = manager.server.remote;
  if (!remote) return undefined;
  return (await remote.speaksModern()) ? remote : undefined;
}

/** What forwardModern returns when the server turned out not to speak 2026-07-28: nothing was answered yet. */
export const TRANSLATE = 'translate';

export async function forwardModern(ctx: GatewayContext, manager: SessionManager, remote: RemoteUpstream, message: Record<string, unknown>, mcp: McpRequestInfo): Promise<void | typeof TRANSLATE> {
  const track = toolCallTracker(ctx, manager, message, mcp);
  try {
    return await forwardRequest(ctx, manager, remote, message, mcp, track);
  } catch (err) {
    track(err instanceof GatewayError ? err.status : 502);
    throw err;
  }
}

/** Settles the request's tools/call (if it is one) with the status it counts as and its answer. */
type Track = (status: number, answer?: Record<string, unknown>) => void;

/**
 * A tools/call counted once in the tool-call metrics and the audit feed (core/tool-calls.ts), as
 * sessions count theirs; `sessionId` is empty: a stateless request has no session.
 */
function toolCallTracker(ctx: GatewayContext, manager: SessionManager, message: Record<string, unknown>, mcp: McpRequestInfo): Track {
  if (mcp.method !== 'tools/call') return () => undefined;
  const call = toolCallInfo(message, ctx.gateway.requestId);
  const started = performance.now();
  let settled = false;
  return (status, answer) => {
    if (settled) return;
    settled = true;
    const error = isObject(answer?.error) ? answer.error : undefined;
    const rpcError = typeof error?.code === 'number' ? error.code : undefined;
    const toolError = isObject(answer?.result) && answer.result.isError === true;
    const outcome = mcp.refusedBy !== undefined ? 'denied' : toolCallOutcome(status, rpcError, toolError);
    const latencyMs = performance.now() - started;
    const { runtime, routeId } = manager;
    runtime.metrics.recordToolCall(routeId, call.name, outcome, latencyMs, manager.server.id ?? '');
    if (!runtime.toolCalls.wants(routeId)) return;
    runtime.toolCalls.publish(
      {
        time: call.time,
        routeId,
        consumer: consumerOf(ctx),
        sessionId: '',
        requestId: call.requestId,
        transport: 'streamable-http',
        tool: call.name,
        id: mcp.id as string | number,
        argumentsBytes: call.argumentsBytes,
        arguments: call.arguments,
        outcome,
        errorCode: rpcError,
        latencyMs,
      },
      (err) => manager.logger.error({ err }, 'tool call listener failed'),
    );
  };
}

async function forwardRequest(
  ctx: GatewayContext,
  manager: SessionManager,
  remote: RemoteUpstream,
  message: Record<string, unknown>,
  mcp: McpRequestInfo,
  track: Track,
): Promise<void | typeof TRANSLATE> {
  if (remote.failing) {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_SERVER_FAILING, `the remote MCP server is failing its health checks: ${remote.health?.error ?? 'no answer'}`, {
      data: { reason: 'health_check_failed' },
    });
  }
  const method = mcp.method!;
  const params = isObject(message.params) ? message.params : {};
  const refused = mcp.refusedBy !== undefined;
  // Only a cacheable list pays for its cache key (a tools/call does not).
  const cached: CachedList | undefined =
    refused || !cacheableRequest(method, params)
      ? undefined
      : { cache: cacheOf(manager), query: { method, params, consumer: consumerOf(ctx), generation: manager.server.listGeneration(method as ListMethod) } };
  const hit = cached?.cache.get(cached.query);
  if (hit) {
    // The server's answer, filtered for this caller; fresh for what is left of its time.
    const answer = { jsonrpc: '2.0', id: mcp.id, result: { ...hit.result, ttlMs: Math.floor(hit.remainingMs) } };
    return sendJson(ctx, 200, finish(JSON.stringify(answer), answer, method, mcp));
  }
  const stand = refused ? standIn(message, method) : undefined;
  const sent = stand?.message ?? message;
  const restore = stand?.restore ?? ((line: string) => line);
  const conf = manager.conf as BridgeConf;
  const aborted = new AbortController();
  const onClose = () => aborted.abort();
  ctx.res.once('close', onClose);
  const deadline = LONG_LIVED.has(method) ? undefined : new Deadline(conf.request_timeout * 1000, manager.settings.maxRequestDuration);
  const signals = [aborted.signal, ctx.gateway.signal];
  if (deadline) signals.push(deadline.signal);
  const target = remote.target(manager.logger);
  const report = reporter(ctx);
  const started = performance.now();
  let res: Dispatcher.ResponseData;
  try {
    res = await request(target.url, {
      method: 'POST',
      body: JSON.stringify(sent),
      headers: modernRequestHeaders(target, String(sent.method), modernHeaders(ctx, sent, refused)),
      dispatcher: target.dispatcher,
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    ctx.res.off('close', onClose);
    deadline?.clear();
    if (aborted.signal.aborted) throw clientGone();
    if (deadline?.expired) return timedOut(ctx, manager, mcp, deadline, report, track);
    const failure = remoteFailure(err, target.timeoutMs);
    throw mcpHttpError(failure.data.reason === 'upstream_timeout' ? MCP_ERRORS.GW_MCP_INIT_TIMEOUT : MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, failure.message, {
      status: failure.data.reason === 'upstream_timeout' ? 504 : 502,
      data: failure.data,
    });
  }
  const type = mediaTypeOf(res.headers['content-type']);
  try {
    if (res.statusCode === 202) {
      // 202 acknowledges a notification; only requests come here (modern.ts answers notifications itself).
      await res.body.dump().catch(() => undefined);
      throw upstreamError(INVALID_ANSWER);
    }
    if (res.statusCode < 300 && type === 'text/event-stream') {
      report(res.statusCode, performance.now() - started);
      return await relayStream(ctx, manager, res.body, sent, mcp, restore, cached, deadline, track);
    }
    let text: string | undefined;
    try {
      text = await readBounded(res.body, conf.max_message_bytes);
    } catch (err) {
      if (aborted.signal.aborted) throw clientGone();
      if (deadline?.expired) return timedOut(ctx, manager, mcp, deadline, report, track);
      throw upstreamError(remoteFailure(err, target.timeoutMs));
    }
    if (text === undefined) throw upstreamError(tooLarge(conf.max_message_bytes));
    const answer = messagesOf(text);
    const single = answer?.length === 1 ? answer[0] : undefined;
    const rpcError = single?.error as { code?: unknown; data?: { supported?: unknown } } | undefined;
    report(res.statusCode, performance.now() - started, typeof rpcError?.code === 'number' ? rpcError.code : undefined);
    if (res.statusCode >= 400) {
      if (!isModernRefusal(res.statusCode, rpcError)) {
        remote.forgetEra();
        // Replaced in place by a 2025-era server: this request, too, goes the translated way.
        if (!(await remote.speaksModern())) return TRANSLATE;
      }
      // A JSON-RPC error is the server's answer to the request (an unknown method, a bad
      // argument): the client reads it as the server sent it. Anything else is the server failing.
      if (single && rpcError && res.statusCode < 500 && res.statusCode !== 401 && res.statusCode !== 403) {
        track(res.statusCode, single);
        return sendJson(ctx, res.statusCode, restore(text));
      }
      throw upstreamError(statusFailure(res.statusCode));
    }
    // A JSON answer is the response to this request: another id (or a request of the server's) is
    // no answer the client can use, and must not be cached as one.
    if (!single || type !== 'application/json' || single.method !== undefined || single.id !== sent.id) throw upstreamError(INVALID_ANSWER);
    if (cached && isObject(single.result) && cached.cache.offer(cached.query, single.result, Buffer.byteLength(text))) remote.watchLists();
    track(res.statusCode, single);
    return sendJson(ctx, res.statusCode, restore(finish(text, single, method, mcp)));
  } finally {
    ctx.res.off('close', onClose);
    deadline?.clear();
  }
}

/**
 * request_timeout for one request to the server: restarted by each of its progress notifications,
 * never past mcp.max_request_duration (as on sessions). Expiring aborts the request, which a
 * 2026-07-28 server takes as cancellation.
 */
class Deadline {
  private readonly controller = new AbortController();
  private readonly started = performance.now();
  private readonly hardDeadline: number;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    maxDurationMs: number,
  ) {
    this.hardDeadline = this.started + maxDurationMs;
    this.timer = setTimeout(() => this.controller.abort(), Math.min(timeoutMs, maxDurationMs));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  get seconds(): number {
    return Math.round((performance.now() - this.started) / 100) / 10;
  }

  /** Progress came: the server is working on it. */
  extend(): void {
    const remaining = this.hardDeadline - performance.now();
    if (this.expired || remaining <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(), Math.min(this.timeoutMs, remaining));
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

/** The request's answer when the server did not give it in time: the timeout error sessions give. */
function timedOut(ctx: GatewayContext, manager: SessionManager, mcp: McpRequestInfo, deadline: Deadline, report: ReturnType<typeof reporter>, track: Track): void {
  track(504);
  manager.logger.warn({ method: mcp.method, seconds: deadline.seconds }, 'mcp request timed out; cancelled at the remote server');
  report(504, deadline.seconds * 1000, REQUEST_TIMEOUT);
  sendJson(ctx, 200, timeoutLine(mcp, deadline));
}

function timeoutLine(mcp: McpRequestInfo, deadline: Deadline): string {
  return errorResponse(mcp.id ?? null, REQUEST_TIMEOUT, `Request timed out after ${deadline.seconds} s`);
}

/**
 * An SSE answer, event by event: notifications as they come (a list_changed makes the cached list
 * stale), the response filtered. The client closing its stream aborts the server's.
 */
async function relayStream(
  ctx: GatewayContext,
  manager: SessionManager,
  body: Dispatcher.ResponseData['body'],
  sent: Record<string, unknown>,
  mcp: McpRequestInfo,
  restore: (line: string) => string,
  cached: CachedList | undefined,
  deadline: Deadline | undefined,
  track: Track,
): Promise<void> {
  const connection = await openSse(ctx, {});
  if (!connection) {
    body.destroy();
    track(499);
    return;
  }
  connection.onClose(() => body.destroy());
  const conf = manager.conf as BridgeConf;
  const parser = new SseParser(conf.max_message_bytes, (event) => {
    if (event.data === '') return;
    const message = messagesOf(event.data)?.[0];
    if (!message) return manager.logger.warn('remote mcp server sent an SSE event that is not JSON-RPC; dropped');
    const stale = typeof message.method === 'string' ? LIST_CHANGED[message.method] : undefined;
    if (stale) manager.listChanged(stale);
    if (message.method === 'notifications/progress') deadline?.extend();
    let line = event.data.includes('\n') || event.data.includes('\r') ? JSON.stringify(message) : event.data;
    if (message.method === undefined && message.id === sent.id) {
      answered = true;
      track(200, message);
      if (cached && isObject(message.result) && cached.cache.offer(cached.query, message.result, Buffer.byteLength(event.data))) manager.server.remote?.watchLists();
      line = finish(line, message, mcp.method!, mcp);
    }
    connection.event(restore(line));
  });
  let answered = false;
  let tooBig = false;
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      parser.push(decoder.decode(chunk as Buffer, { stream: true }));
      if (connection.closed) break;
      // A client that does not read holds the server's stream back, not the gateway's memory.
      if (connection.blockedSince !== undefined) await new Promise<void>((wake) => connection.onDrain(wake));
    }
  } catch (err) {
    tooBig = err instanceof SseTooLarge;
    if (tooBig) manager.logger.warn({ limit: conf.max_message_bytes }, 'remote mcp server sent an SSE event larger than max_message_bytes; stream ended');
    // Otherwise the server's stream broke, timed out or the client left: the response ends here.
  }
  if (!answered && !connection.closed) {
    // The request gets an answer all the same, as a session's would: a stream that just ends leaves the client guessing.
    if (deadline?.expired) {
      manager.logger.warn({ method: mcp.method, seconds: deadline.seconds }, 'mcp request timed out; cancelled at the remote server');
      connection.event(timeoutLine(mcp, deadline));
    } else {
      const failure = tooBig ? tooLarge(conf.max_message_bytes) : STREAM_CUT;
      connection.event(errorResponse(mcp.id ?? null, CONNECTION_CLOSED, failure.message, failure.data));
    }
  }
  if (!answered) track(connection.closed ? 499 : deadline?.expired ? 504 : 502);
  connection.end();
}

/**
 * The answer with the route's list filters applied, for this request. A filtered list is this
 * consumer's view, so it goes out "private" (2026-07-28 caching: filtered lists that vary per user
 * are private), and with `ttlMs: 0`: an access-list change has no way to reach what the client
 * keeps, so it must not keep it (as agentgateway answers filtered lists).
 */
function finish(line: string, message: Record<string, unknown>, method: string, mcp: McpRequestInfo): string {
  if (!mcp.filtersList || !isFilteredList(method)) return line;
  const result = message.result;
  if (isObject(result) && (result.cacheScope !== 'private' || result.ttlMs !== 0)) {
    const own = { ...message, result: { ...result, cacheScope: 'private', ttlMs: 0 } };
    return filterListAnswer(JSON.stringify(own), own, method, mcp);
  }
  return filterListAnswer(line, message, method, mcp);
}

/**
 * The request's own modern headers as sent (a refused request's stand-in names its stand-in):
 * Mcp-Name, and the client's Mcp-Param-* (2026-07-28: intermediaries forward them), unless the
 * request was refused and its arguments dropped.
 */
function modernHeaders(ctx: GatewayContext, sent: Record<string, unknown>, refused: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  const field = NAMED_BY[String(sent.method)];
  const name = field && isObject(sent.params) ? sent.params[field] : undefined;
  if (typeof name === 'string') headers['mcp-name'] = encodeHeader(name);
  if (refused) return headers;
  for (const [key, value] of Object.entries(ctx.req.headers)) {
    if (key.startsWith('mcp-param-') && typeof value === 'string') headers[key] = value;
  }
  return headers;
}

/**
 * Whether a 4xx is a modern server's answer (so it still speaks 2026-07-28). A 2025-era server
 * built on the MCP SDK 1.x refuses a request without a session (or with a version it does not
 * know) 400, -32000; 2026-07-28 has codes of its own for what it refuses (-32020, -32022, -32600,
 * -32602).
 */
function isModernRefusal(status: number, error: { code?: unknown; data?: { supported?: unknown } } | undefined): boolean {
  if (status >= 500 || status === 401 || status === 403 || status === 429) return true;
  if (!error || typeof error.code !== 'number') return false;
  if (status === 400 && error.code === -32000) return false;
  if (error.code === UNSUPPORTED_PROTOCOL_VERSION) return offersModern(error);
  return true;
}

function upstreamError(failure: { message: string; data: Record<string, unknown> }) {
  return mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, failure.message, { data: failure.data });
}

/** A cacheable list request: the route's cache and what its answer is kept under. */
interface CachedList {
  readonly cache: ListCache;
  readonly query: CacheQuery;
}

const caches = new WeakMap<SessionManager, ListCache>();

/** The route's list cache (one per session manager: per route config). */
function cacheOf(manager: SessionManager): ListCache {
  let cache = caches.get(manager);
  if (!cache) {
    const conf = manager.conf as BridgeConf;
    cache = new ListCache({ maxTtlMs: (conf.list_cache_max_ttl ?? 0) * 1000, maxEntries: conf.list_cache_max_entries ?? 1, maxBytes: conf.list_cache_max_bytes ?? LIST_CACHE_FIELDS.list_cache_max_bytes.default });
    caches.set(manager, cache);
  }
  return cache;
}

function sendJson(ctx: GatewayContext, status: number, line: string): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = line;
}
