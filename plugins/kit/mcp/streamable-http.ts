/**
 * Streamable HTTP (MCP 2025-11-25, also serving 2025-06-18 and 2025-03-26 clients) on
 * `{base_uri}/mcp`: POST carries one client message, GET opens the standalone stream (or resumes
 * one with Last-Event-ID), DELETE ends the session. Status codes follow the transports spec and
 * the SDK's reference transport: 202 for notifications and responses, 400 without a session id,
 * 404 for an unknown or ended session, 405/406/409/415 as usual.
 */
import { clientGone } from '../../../core/errors.js';
import type { GatewayContext, McpRequestInfo } from '../../../core/context.js';
import { batchFor } from './batch.js';
import { accepts, answerOptions, consumerOf, openSse, reporter, requireJson, startSession } from './http.js';
import { INVALID_REQUEST, MODERN_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, VERSION_META, mcpHttpError, unsupportedVersionError, type JsonRpcId } from './jsonrpc.js';
import type { Outcome, PendingRequest } from './pending.js';
import type { Session } from './session.js';
import type { SessionManager } from './sessions.js';
import type { Stream } from './streams.js';
import { MCP_ERRORS } from './errors.js';
import { handleModern, isModernRequest } from './modern.js';

const SESSION_HEADER = 'mcp-session-id';
const VERSION_HEADER = 'mcp-protocol-version';

export async function handleStreamableHttp(ctx: GatewayContext, manager: SessionManager): Promise<void> {
  if (ctx.method !== 'POST' && headerOf(ctx, VERSION_HEADER) === MODERN_PROTOCOL_VERSION) {
    // 2026-07-28 is POST only: no standalone stream, no session to end.
    throw mcpHttpError(MCP_ERRORS.GW_MCP_METHOD_NOT_ALLOWED, `${ctx.method} is not part of MCP ${MODERN_PROTOCOL_VERSION}; POST each request`, { headers: { allow: 'POST' } });
  }
  switch (ctx.method) {
    case 'POST':
      return post(ctx, manager);
    case 'GET':
      return get(ctx, manager);
    case 'DELETE':
      return remove(ctx, manager);
    default:
      throw mcpHttpError(MCP_ERRORS.GW_MCP_METHOD_NOT_ALLOWED, `${ctx.method} is not allowed on the MCP endpoint`, {
        headers: { allow: 'GET, POST, DELETE' },
      });
  }
}

async function post(ctx: GatewayContext, manager: SessionManager): Promise<void> {
  requireJson(ctx);
  if (!accepts(ctx, 'application/json') || !accepts(ctx, 'text/event-stream')) {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_NOT_ACCEPTABLE, 'Accept must allow both application/json and text/event-stream');
  }
  const mcp = ctx.gateway.mcp!;
  if (mcp.kind === 'invalid' || mcp.kind === 'none' || !mcp.message) {
    const error = mcp.error ?? { code: INVALID_REQUEST, message: 'Invalid Request' };
    throw mcpHttpError(MCP_ERRORS.GW_MCP_INVALID_MESSAGE, error.message, { rpcCode: error.code });
  }
  const message = mcp.message as Record<string, unknown>;
  // A 2026-07-28 request is stateless; the same endpoint serves it without a session (modern.ts).
  if (isModernRequest(ctx, message)) return handleModern(ctx, manager, mcp);
  const sessionId = headerOf(ctx, SESSION_HEADER);
  const isInitialize = mcp.kind === 'request' && mcp.method === 'initialize';
  // initialize negotiates its version in the body; everything else declares one, and a version
  // this gateway does not serve (a 2026-07-28 stateless request) is told which ones it does,
  // before any question of sessions.
  if (!isInitialize) checkVersion(ctx, mcp.id ?? null, requestedVersion(ctx, message), sessionId === undefined && claimsEnvelope(message));
  if (mcp.kind === 'batch') return postBatch(ctx, manager, mcp, sessionId);
  if (isInitialize) {
    if (sessionId !== undefined) {
      if (manager.find(sessionId, consumerOf(ctx), 'streamable-http')) {
        throw mcpHttpError(MCP_ERRORS.GW_MCP_ALREADY_INITIALIZED, 'this session is already initialized', { rpcCode: INVALID_REQUEST });
      }
      throw sessionNotFound();
    }
    return initialize(ctx, manager, message, mcp.id!);
  }
  const session = sessionOf(ctx, manager, sessionId);
  if (mcp.kind === 'request') {
    const pending = session.request(message, mcp.id!, mcp.method!, answerOptions(ctx, manager), mcp);
    return reply(ctx, session, pending);
  }
  session.forward(message);
  ctx.status = 202;
  ctx.set(SESSION_HEADER, session.id);
  ctx.body = '';
}

async function postBatch(ctx: GatewayContext, manager: SessionManager, mcp: McpRequestInfo, sessionId: string | undefined): Promise<void> {
  const session = sessionOf(ctx, manager, sessionId);
  const reply = session.batch(batchFor(mcp, session), answerOptions(ctx, manager));
  if (!reply) {
    // Only notifications and responses: accepted, nothing to answer.
    ctx.status = 202;
    ctx.set(SESSION_HEADER, session.id);
    ctx.body = '';
    return;
  }
  return deliver(ctx, session, await waitFor(ctx, reply.outcome, () => session.abandon(reply.members[0])));
}

async function initialize(ctx: GatewayContext, manager: SessionManager, message: Record<string, unknown>, id: string | number): Promise<void> {
  const session = await startSession(ctx, manager, 'streamable-http', message.params);
  const pending = session.request(message, id, 'initialize', {
    timeoutMs: manager.conf.init_timeout * 1000,
    legacy: false,
    httpErrors: true,
    report: reporter(ctx),
  });
  const outcome = await waitFor(ctx, pending.outcome, () => session.abandon(pending));
  if (outcome.kind === 'failed') {
    session.close(outcome.reason, outcome.status, outcome.failure);
    throw failedError(outcome);
  }
  if (outcome.kind === 'json' && isErrorResponse(outcome.line)) {
    // The server refused to initialize: pass its answer on, but there is no session to keep.
    session.close('the MCP server refused to initialize', 502);
    return sendJson(ctx, outcome.line);
  }
  return deliver(ctx, session, outcome);
}

async function reply(ctx: GatewayContext, session: Session, pending: PendingRequest): Promise<void> {
  return deliver(ctx, session, await waitFor(ctx, pending.outcome, () => session.abandon(pending)));
}

/** Waits for the reply's first message; a client that leaves meanwhile cancels the request(s). */
async function waitFor(ctx: GatewayContext, outcome: Promise<Outcome>, abandon: () => void): Promise<Outcome> {
  const { res } = ctx;
  res.once('close', abandon);
  try {
    return await outcome;
  } finally {
    res.off('close', abandon);
  }
}

async function deliver(ctx: GatewayContext, session: Session, outcome: Outcome): Promise<void> {
  switch (outcome.kind) {
    case 'json':
      ctx.set(SESSION_HEADER, session.id);
      return sendJson(ctx, outcome.line);
    case 'sse':
      return attachStream(ctx, session, outcome.stream, 0);
    case 'gone':
      throw clientGone();
    case 'failed':
      throw failedError(outcome);
  }
}

async function attachStream(ctx: GatewayContext, session: Session, stream: Stream, afterSeq: number): Promise<void> {
  let connection;
  try {
    connection = await openSse(ctx, { [SESSION_HEADER]: session.id });
  } catch (err) {
    session.unpin(stream);
    throw err;
  }
  if (!connection) {
    session.unpin(stream);
    return;
  }
  session.attach(stream, connection, afterSeq);
}

async function get(ctx: GatewayContext, manager: SessionManager): Promise<void> {
  if (!accepts(ctx, 'text/event-stream')) {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_NOT_ACCEPTABLE, 'Accept must allow text/event-stream');
  }
  const session = sessionOf(ctx, manager, headerOf(ctx, SESSION_HEADER));
  const { stream, after } = session.streamForGet(headerOf(ctx, 'last-event-id'));
  return attachStream(ctx, session, stream, after);
}

async function remove(ctx: GatewayContext, manager: SessionManager): Promise<void> {
  const session = sessionOf(ctx, manager, headerOf(ctx, SESSION_HEADER));
  session.close('the client ended the session');
  ctx.status = 200;
  ctx.body = '';
}

/** The session a request names, after the checks every non-initialize request goes through. */
function sessionOf(ctx: GatewayContext, manager: SessionManager, sessionId: string | undefined): Session {
  checkVersion(ctx, null, headerOf(ctx, VERSION_HEADER), false);
  if (sessionId === undefined) {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_SESSION_REQUIRED, 'Mcp-Session-Id header is required', { rpcCode: INVALID_REQUEST });
  }
  const session = manager.find(sessionId, consumerOf(ctx), 'streamable-http');
  if (!session) throw sessionNotFound();
  return session;
}

/**
 * The protocol version a request declares: the MCP-Protocol-Version header (2025-06-18 and
 * later), else the body's `_meta` (2026-07-28 requests carry it there too, and must match).
 */
function requestedVersion(ctx: GatewayContext, message: Record<string, unknown>): string | undefined {
  const header = headerOf(ctx, VERSION_HEADER);
  if (header !== undefined) return header;
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  const version = meta?.[VERSION_META];
  return typeof version === 'string' ? version : undefined;
}

/**
 * A request in the stateless envelope (no session, its version in `_meta`) that names a version
 * not served is told the stateless ones it may retry with: the 2025 revisions are reached through
 * `initialize`, not by changing `_meta`, and `server/discover` lists only the stateless ones (as
 * the v2 SDK's dual-era servers answer both). Any other request is told every version served.
 */
function checkVersion(ctx: GatewayContext, id: JsonRpcId | null, version: string | undefined, stateless: boolean): void {
  if (version === undefined || SUPPORTED_PROTOCOL_VERSIONS.has(version)) return;
  throw stateless ? unsupportedVersionError(id, version, [MODERN_PROTOCOL_VERSION]) : unsupportedVersionError(id, version);
}

function claimsEnvelope(message: Record<string, unknown>): boolean {
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  return typeof meta?.[VERSION_META] === 'string';
}

function sendJson(ctx: GatewayContext, line: string): void {
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = line;
}

function headerOf(ctx: GatewayContext, name: string): string | undefined {
  const value = ctx.req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function isErrorResponse(line: string): boolean {
  const message = JSON.parse(line) as Record<string, unknown>;
  return 'error' in message && !('result' in message);
}

/** initialize failed: 504 when the server did not answer in time, else 502; with the cause. */
function failedError(outcome: Extract<Outcome, { kind: 'failed' }>) {
  const code = outcome.status === 504 ? MCP_ERRORS.GW_MCP_INIT_TIMEOUT : MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE;
  return mcpHttpError(code, outcome.failure?.message ?? outcome.reason, { status: outcome.status, data: outcome.failure?.data });
}

function sessionNotFound() {
  return mcpHttpError(MCP_ERRORS.GW_MCP_SESSION_NOT_FOUND, 'session not found; initialize a new one');
}
