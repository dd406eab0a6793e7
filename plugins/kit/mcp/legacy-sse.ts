/**
 * Legacy HTTP+SSE (MCP 2024-11-05), at APISIX's paths: `GET {base_uri}/sse` starts a session and
 * its child and streams everything the child says; its first event, `endpoint`, is the URL to
 * POST to, `{base_uri}/message?sessionId=…`, which answers 202 while the reply travels on the
 * stream. The session lives exactly as long as the SSE connection.
 */
import type { GatewayContext } from '../../../core/context.js';
import { batchFor } from './batch.js';
import { consumerOf, openSse, requireJson, startSession } from './http.js';
import { INVALID_REQUEST, mcpHttpError } from './jsonrpc.js';
import type { SessionManager } from './sessions.js';
import { MCP_ERRORS } from './errors.js';

export async function handleLegacySse(ctx: GatewayContext, manager: SessionManager, endpointPath: string): Promise<void> {
  if (ctx.method !== 'GET') {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_METHOD_NOT_ALLOWED, `${ctx.method} is not allowed on the SSE endpoint`, { headers: { allow: 'GET' } });
  }
  const session = await startSession(ctx, manager, 'sse');
  let connection;
  try {
    connection = await openSse(ctx, {});
  } catch (err) {
    session.close('the stream could not be opened');
    throw err;
  }
  if (!connection || session.closed) {
    session.close('the SSE client disconnected');
    connection?.end();
    return;
  }
  ctx.gateway.upstreamOutcome = { status: 200 };
  session.attachLegacy(connection, `${endpointPath}?sessionId=${session.id}`);
}

export async function handleLegacyMessage(ctx: GatewayContext, manager: SessionManager): Promise<void> {
  if (ctx.method !== 'POST') {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_METHOD_NOT_ALLOWED, `${ctx.method} is not allowed on the message endpoint`, { headers: { allow: 'POST' } });
  }
  const mcp = ctx.gateway.mcp!;
  const sessionId = mcp.sessionId;
  if (!sessionId) throw mcpHttpError(MCP_ERRORS.GW_MCP_SESSION_REQUIRED, 'the sessionId query parameter is required', { rpcCode: INVALID_REQUEST });
  const session = manager.find(sessionId, consumerOf(ctx), 'sse');
  if (!session) throw mcpHttpError(MCP_ERRORS.GW_MCP_SESSION_NOT_FOUND, 'session not found; open a new SSE stream');
  requireJson(ctx);
  if (mcp.kind === 'invalid' || mcp.kind === 'none' || !mcp.message) {
    const error = mcp.error ?? { code: INVALID_REQUEST, message: 'Invalid Request' };
    throw mcpHttpError(MCP_ERRORS.GW_MCP_INVALID_MESSAGE, error.message, { rpcCode: error.code });
  }
  const message = mcp.message as Record<string, unknown>;
  if (mcp.kind === 'batch') {
    // Replies travel the session's stream one by one, as for single messages.
    session.batch(batchFor(mcp, session), { timeoutMs: manager.conf.request_timeout * 1000, legacy: true, httpErrors: false, requestId: ctx.gateway.requestId });
  } else if (mcp.kind === 'request') {
    const timeout = mcp.method === 'initialize' ? manager.conf.init_timeout : manager.conf.request_timeout;
    session.request(message, mcp.id!, mcp.method!, { timeoutMs: timeout * 1000, legacy: true, httpErrors: false, requestId: ctx.gateway.requestId }, mcp);
  } else {
    session.forward(message);
  }
  ctx.status = 202;
  ctx.type = 'text/plain';
  ctx.body = 'Accepted';
}
