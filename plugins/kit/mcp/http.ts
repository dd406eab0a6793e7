/**
 * Small HTTP helpers shared by both transports: content negotiation, the SSE response head, and
 * the client's identity as far as sessions are concerned.
 */
import type { GatewayContext } from '../../../core/context.js';
import type { GatewayError } from '../../../core/errors.js';
import { mcpHttpError } from './jsonrpc.js';
import { mediaTypeOf } from './remote-http.js';
import { SSE_HEADERS, SseConnection } from './sse.js';
import type { Session, TransportKind } from './session.js';
import type { SessionManager } from './sessions.js';
import { MCP_ERRORS } from './errors.js';
import type { PendingOptions } from './pending.js';

/** `application/json`, parameters (charset) allowed. */
export function requireJson(ctx: GatewayContext): void {
  if (mediaTypeOf(ctx.req.headers['content-type']) !== 'application/json') {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_UNSUPPORTED_MEDIA_TYPE, 'Content-Type must be application/json');
  }
}

/** Whether the Accept header allows `type` (a missing header allows everything). */
export function accepts(ctx: GatewayContext, type: string): boolean {
  const header = ctx.req.headers.accept;
  if (header === undefined) return true;
  const [major] = type.split('/');
  for (const part of header.split(',')) {
    const range = part.split(';', 1)[0].trim().toLowerCase();
    if (range === type || range === '*/*' || range === `${major}/*`) return true;
  }
  return false;
}

export function consumerOf(ctx: GatewayContext): string | undefined {
  return ctx.gateway.consumer?.username;
}

/**
 * Takes over the response as an SSE stream: header filters run first (other plugins' headers),
 * then the head goes out. Returns undefined when the client left meanwhile.
 */
export async function openSse<C extends SseConnection = SseConnection>(
  ctx: GatewayContext,
  extraHeaders: Record<string, string>,
  connection: (res: GatewayContext['res']) => C = (res) => new SseConnection(res) as C,
): Promise<C | undefined> {
  ctx.respond = false;
  await ctx.gateway.commitHeaders();
  const { res } = ctx;
  if (res.destroyed || res.writableEnded) return undefined;
  res.writeHead(200, { ...SSE_HEADERS, ...extraHeaders });
  res.flushHeaders();
  return connection(res);
}

/**
 * Opens a session for this request's consumer and starts its child (through the start queue); a
 * child that cannot start ends the session and answers 502 (and counts as a backend failure).
 */
export async function startSession(ctx: GatewayContext, manager: SessionManager, transport: TransportKind, initParams?: unknown): Promise<Session> {
  // What its initialize will ask, when known now: a prewarmed child may fit it (prewarm.ts).
  const session = manager.open(transport, consumerOf(ctx), initParams);
  try {
    await manager.start(session, ctx.gateway.signal);
  } catch (err) {
    if ((err as GatewayError).status === 502) ctx.gateway.upstreamOutcome = { status: 502 };
    throw err;
  }
  return session;
}

/**
 * How a Streamable HTTP request waits for its answer (the route's request_timeout; a failure is a
 * JSON-RPC error), its outcome reported on the request's log line and metrics.
 */
export function answerOptions(ctx: GatewayContext, manager: SessionManager): PendingOptions {
  return { timeoutMs: manager.conf.request_timeout * 1000, legacy: false, httpErrors: false, report: reporter(ctx), requestId: ctx.gateway.requestId };
}

/** Puts what the MCP server answered (the status it counts as, its JSON-RPC error) on the request. */
export function reporter(ctx: GatewayContext): NonNullable<PendingOptions['report']> {
  return (status, latency, rpcError) => {
    ctx.gateway.upstreamOutcome = { status, latency };
    if (rpcError !== undefined) ctx.gateway.mcpError = rpcError;
  };
}
