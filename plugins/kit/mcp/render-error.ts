/**
 * Errors raised for an MCP request before the bridge's content handler ran, rendered in the
 * protocol the client speaks:
 * - a body the core refused (too large, too slow) keeps its HTTP status and gets a JSON-RPC error
 *   body without an id (the request never parsed), like the bridge's own HTTP errors;
 * - a policy rejection (429, or a 5xx such as an open breaker) of one MCP request becomes that
 *   request's JSON-RPC error, which MCP clients surface as a failed call rather than a broken
 *   transport.
 * - the bridge's own errors (which carry their JSON-RPC body) gain the request id.
 * Anything else (auth) stays as it is.
 */
import type { GatewayContext } from '../../../core/context.js';
import { CORE_ERRORS, errorHeaders, statusText, type GatewayError } from '../../../core/errors.js';
import { mcpTransportOf } from '../../../core/mcp.js';
import { consumerOf } from './http.js';
import { CONNECTION_CLOSED, INVALID_REQUEST, errorResponse, isOwnError } from './jsonrpc.js';
import type { SessionConf } from './schema.js';
import type { SessionManager } from './sessions.js';

/** The core's refusals of a request body (core/body.ts). */
const BODY_ERRORS = [CORE_ERRORS.GW_BODY_TOO_LARGE, CORE_ERRORS.GW_BODY_TIMEOUT, CORE_ERRORS.GW_BODY_ABORTED];

export async function renderError(ctx: GatewayContext, conf: SessionConf, manager: SessionManager, error: GatewayError): Promise<boolean> {
  if (BODY_ERRORS.some((code) => code.is(error))) return renderBodyError(ctx, conf, error);
  if (isOwnError(error)) return renderOwnError(ctx, error);
  return renderRejection(ctx, manager, error);
}

/**
 * The bridge's own errors carry their JSON-RPC body; one in the gateway's shape (`data.code`)
 * gains the request id, for the operator. A body whose shape the spec fixes (-32022) stays as is.
 */
async function renderOwnError(ctx: GatewayContext, error: GatewayError): Promise<boolean> {
  const body = error.body as { jsonrpc?: unknown; error?: { data?: Record<string, unknown> } } | undefined;
  if (body?.jsonrpc !== '2.0' || typeof body.error?.data?.code !== 'string') return false;
  ctx.status = error.status;
  ctx.type = 'application/json';
  ctx.body = { ...body, error: { ...body.error, data: { ...body.error.data, request_id: ctx.gateway.requestId } } };
  await commit(ctx, error);
  return true;
}

async function renderBodyError(ctx: GatewayContext, conf: SessionConf, error: GatewayError): Promise<boolean> {
  if (!mcpTransportOf(ctx.gateway.path, conf.base_uri)) return false;
  const data: Record<string, unknown> = { code: error.code, request_id: ctx.gateway.requestId };
  let message = error.message;
  if (CORE_ERRORS.GW_BODY_TOO_LARGE.is(error)) {
    // The route's body limit is the smallest any of its plugins asks for; usually the bridge's.
    const limit = Number(/(\d+) bytes/.exec(error.message)?.[1] ?? conf.max_message_bytes);
    data.limit = limit;
    if (limit === conf.max_message_bytes) message = `request body is larger than max_message_bytes (${limit} bytes)`;
  }
  ctx.status = error.status;
  ctx.type = 'application/json';
  ctx.body = errorResponse(null, INVALID_REQUEST, message, data);
  ctx.gateway.mcpError = INVALID_REQUEST;
  await commit(ctx, error);
  return true;
}

async function renderRejection(ctx: GatewayContext, manager: SessionManager, error: GatewayError): Promise<boolean> {
  if (isOwnError(error) || CORE_ERRORS.GW_CLIENT_GONE.is(error)) return false;
  if (error.status !== 429 && error.status < 500) return false;
  const mcp = ctx.gateway.mcp;
  // A batch refused as a whole (one of its calls was over a limit): every request in it gets the error.
  const requests = (mcp?.kind === 'batch' ? mcp.batch! : mcp ? [mcp] : []).filter((m) => m.kind === 'request' && m.id !== undefined);
  if (!mcp || requests.length === 0) return false;
  const base = error.status < 500 ? error.message : statusText(error.status);
  // An operator's own rejection text (rejected_msg, break_response_body) is for the client to read.
  const custom = typeof error.body === 'string' ? error.body : (error.body as { error_msg?: unknown } | undefined)?.error_msg;
  const message = typeof custom === 'string' && custom !== base ? `${base}: ${custom}` : base;
  const data: Record<string, unknown> = { status: error.status, code: error.code, request_id: ctx.gateway.requestId };
  if (error.retryAfter !== undefined) data.retry_after = String(error.retryAfter);
  const lines = requests.map((request) => errorResponse(request.id!, CONNECTION_CLOSED, message, data));
  if (mcp.transport === 'sse') {
    const session = mcp.sessionId ? manager.find(mcp.sessionId, consumerOf(ctx), 'sse') : undefined;
    if (!session) return false;
    for (const line of lines) session.sendToClient(line);
    ctx.status = 202;
    ctx.type = 'text/plain';
    ctx.body = 'Accepted';
  } else {
    ctx.status = 200;
    ctx.type = 'application/json';
    ctx.body = mcp.kind === 'batch' ? `[${lines.join(',')}]` : lines[0];
    if (mcp.sessionId) ctx.set('mcp-session-id', mcp.sessionId);
  }
  ctx.gateway.mcpError = CONNECTION_CLOSED;
  await commit(ctx, error);
  return true;
}

async function commit(ctx: GatewayContext, error: GatewayError): Promise<void> {
  const headers = errorHeaders(error);
  if (headers) ctx.set(headers);
  try {
    await ctx.gateway.commitHeaders();
  } catch {
    // Already answering an error; a header filter failing too changes nothing.
  }
}
