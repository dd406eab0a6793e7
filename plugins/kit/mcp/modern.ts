/**
 * MCP 2026-07-28 ("modern", stateless) requests on `{base_uri}/mcp`, in front of servers that speak
 * the 2025 revisions (every stdio server built on SDK 1.x): no initialize, no session id; each POST
 * carries its protocol version, client info and capabilities in `params._meta` and the
 * `Mcp-Method` / `Mcp-Name` headers (2026-07-28 basic/transports/streamable-http).
 *
 * The gateway keeps a pool of legacy sessions it initialized itself, one per capability set a
 * client declared (a server may behave differently for a client that can sample), and sends each
 * modern request through one of them with its JSON-RPC id and progress token replaced by ones
 * unique in that session; the answer gets the client's id and token back and the 2026 result
 * fields (`resultType`, and `ttlMs`/`cacheScope` where the result is cacheable). `server/discover`
 * is answered from the pooled server's initialize result. Closing the response stream is
 * cancellation: the server gets notifications/cancelled.
 *
 * What a pooled server sends that no request can be told apart for (logging with several
 * requests in flight) is dropped rather than guessed; requests the server sends the client
 * (sampling, elicitation, roots) are refused to the server, since this front does not yet turn
 * them into `input_required` results.
 */
import type { GatewayContext, McpRequestInfo } from '../../../core/context.js';
import { clientGone } from '../../../core/errors.js';
import { MCP_ERRORS } from './errors.js';
import { consumerOf, openSse } from './http.js';
import { METHOD_NOT_FOUND, MODERN_PROTOCOL_VERSION, PROTOCOL_VERSIONS, mcpHttpError, type JsonRpcId } from './jsonrpc.js';
import type { Outcome } from './pending.js';
import type { Session } from './session.js';
import type { SessionManager } from './sessions.js';
import { SseConnection } from './sse.js';


const VERSION_META = 'io.modelcontextprotocol/protocolVersion';
const CLIENT_INFO_META = 'io.modelcontextprotocol/clientInfo';
const CAPABILITIES_META = 'io.modelcontextprotocol/clientCapabilities';
const LOG_LEVEL_META = 'io.modelcontextprotocol/logLevel';
const SERVER_INFO_META = 'io.modelcontextprotocol/serverInfo';
/** The envelope keys a 2025-era server does not know; everything else in `_meta` passes through. */
const ENVELOPE_KEYS = [VERSION_META, CLIENT_INFO_META, CAPABILITIES_META, LOG_LEVEL_META];

/** 2026-07-28 schema: HeaderMismatch (a required Mcp-* header missing or not matching the body). */
export const HEADER_MISMATCH = -32020;
/** The revision pooled servers are asked to speak (they answer with their own newest if older). */
const LEGACY_VERSION = PROTOCOL_VERSIONS[0];

/** Methods a 2025-era server serves that mean the same in 2026-07-28; `server/discover` is answered here. */
const FORWARDED = new Set([
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
  'completion/complete',
]);
/** Methods whose name goes in `Mcp-Name`, and where the body has it. */
const NAMED: Readonly<Record<string, 'name' | 'uri'>> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };
/** Results that must carry `ttlMs` and `cacheScope` (2026-07-28 server/utilities/caching). */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);

/** Whether the request is a 2026-07-28 one: its header, else its `_meta`, names the modern revision. */
export function isModernRequest(ctx: GatewayContext, message: Record<string, unknown> | undefined): boolean {
  const header = ctx.req.headers['mcp-protocol-version'];
  if (typeof header === 'string') return header === MODERN_PROTOCOL_VERSION;
  return metaOf(message)?.[VERSION_META] === MODERN_PROTOCOL_VERSION;
}

export async function handleModern(ctx: GatewayContext, manager: SessionManager, mcp: McpRequestInfo): Promise<void> {
  if (mcp.kind === 'batch') throw mcpHttpError(MCP_ERRORS.GW_MCP_BATCH_NOT_ALLOWED, 'Invalid Request: 2026-07-28 requests are not batched', { rpcCode: -32600 });
  const message = mcp.message as Record<string, unknown>;
  const id = mcp.id ?? null;
  checkHeaders(ctx, message, id, mcp);
  if (mcp.kind === 'response') {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_INVALID_MESSAGE, 'a 2026-07-28 client sends no responses (server requests come as input_required results)', { rpcCode: -32600 });
  }
  if (mcp.kind === 'notification') {
    // Stateless HTTP has no notification the server acts on (cancellation is closing the stream).
    ctx.status = 202;
    ctx.body = '';
    return;
  }
  const method = mcp.method!;
  if (method !== 'server/discover' && !FORWARDED.has(method)) {
    throw rpcError(MCP_ERRORS.GW_MCP_METHOD_NOT_FOUND, id, METHOD_NOT_FOUND, `Method not found: ${method}`);
  }
  const pool = poolOf(manager);
  const meta = metaOf(message) ?? {};
  const member = await pool.member(ctx, meta);
  if (method === 'server/discover') return sendJson(ctx, JSON.stringify({ jsonrpc: '2.0', id, result: discoverResult(member.initializeResult) }));
  return forward(ctx, manager, member, message, mcp);
}

// ---- headers ------------------------------------------------------------------------------

/** Mcp-Method always, Mcp-Name where the method names something, the version header equal to `_meta`. */
function checkHeaders(ctx: GatewayContext, message: Record<string, unknown>, id: JsonRpcId | null, mcp: McpRequestInfo): void {
  const header = (name: string) => {
    const value = ctx.req.headers[name];
    return typeof value === 'string' ? decodeHeader(value) : undefined;
  };
  const mismatch = (text: string) => rpcError(MCP_ERRORS.GW_MCP_HEADER_MISMATCH, id, HEADER_MISMATCH, `Header mismatch: ${text}`);
  const version = header('mcp-protocol-version');
  const metaVersion = metaOf(message)?.[VERSION_META];
  if (version !== undefined && metaVersion !== undefined && version !== metaVersion) {
    throw mismatch(`MCP-Protocol-Version is ${JSON.stringify(version)} but _meta says ${JSON.stringify(metaVersion)}`);
  }
  if (mcp.kind !== 'request' && mcp.kind !== 'notification') return;
  const method = header('mcp-method');
  if (method === undefined) throw mismatch('the Mcp-Method header is required');
  if (method !== mcp.method) throw mismatch(`Mcp-Method is ${JSON.stringify(method)} but the body's method is ${JSON.stringify(mcp.method)}`);
  const field = NAMED[mcp.method];
  if (!field) return;
  const name = header('mcp-name');
  const bodyName = (message.params as Record<string, unknown> | undefined)?.[field];
  if (name === undefined) throw mismatch(`the Mcp-Name header is required for ${mcp.method}`);
  if (name !== bodyName) throw mismatch(`Mcp-Name is ${JSON.stringify(name)} but params.${field} is ${JSON.stringify(bodyName)}`);
}

/** Non-ASCII header values travel as `=?base64?<base64 of UTF-8>?=` (2026-07-28, "Header encoding"). */
function decodeHeader(value: string): string {
  const encoded = /^=\?base64\?([A-Za-z0-9+/=]*)\?=$/.exec(value);
  return encoded ? Buffer.from(encoded[1], 'base64').toString('utf8') : value;
}

// ---- the pool -------------------------------------------------------------------------------

interface Member {
  readonly session: Session;
  readonly initializeResult: Record<string, unknown>;
}

const pools = new WeakMap<SessionManager, ModernPool>();

function poolOf(manager: SessionManager): ModernPool {
  let pool = pools.get(manager);
  if (!pool) {
    pool = new ModernPool(manager);
    pools.set(manager, pool);
  }
  return pool;
}

/**
 * The sessions a manager keeps for modern requests, one per (consumer, capability set): a
 * consumer's requests never share a server with another consumer's, as a session never does.
 */
class ModernPool {
  private readonly members = new Map<string, Promise<Member>>();
  private nextId = 1;

  constructor(private readonly manager: SessionManager) {}

  /** A fresh id for a request sent through a pooled session (never one a client chose). */
  freshId(): string {
    return `tg-${this.nextId++}`;
  }

  async member(ctx: GatewayContext, meta: Record<string, unknown>): Promise<Member> {
    const capabilities = isObject(meta[CAPABILITIES_META]) ? meta[CAPABILITIES_META] : {};
    const consumer = consumerOf(ctx);
    const key = `${consumer ?? ''}\n${canonical(capabilities)}`;
    let member = this.members.get(key);
    if (member) {
      const ready = await member.catch(() => undefined);
      if (ready && !ready.session.closed) return ready;
      if (this.members.get(key) === member) this.members.delete(key);
      member = this.members.get(key);
    }
    if (!member) {
      member = this.start(ctx, capabilities, meta[CLIENT_INFO_META]);
      this.members.set(key, member);
      member.catch(() => {
        if (this.members.get(key) === member) this.members.delete(key);
      });
    }
    return member;
  }

  private async start(ctx: GatewayContext, capabilities: Record<string, unknown>, clientInfo: unknown): Promise<Member> {
    const session = this.manager.open('streamable-http', consumerOf(ctx));
    session.pooled = true;
    try {
      await this.manager.start(session, ctx.gateway.signal);
    } catch (err) {
      if ((err as { status?: number }).status === 502) ctx.gateway.upstreamOutcome = { status: 502 };
      throw err;
    }
    const initialize = {
      jsonrpc: '2.0',
      id: this.freshId(),
      method: 'initialize',
      params: {
        protocolVersion: LEGACY_VERSION,
        capabilities,
        clientInfo: isObject(clientInfo) ? clientInfo : { name: 'tollgate-modern-front', version: '1' },
      },
    };
    const pending = session.request(initialize, initialize.id, 'initialize', {
      timeoutMs: this.manager.conf.init_timeout * 1000,
      legacy: false,
      httpErrors: true,
    });
    const outcome = await pending.outcome;
    const answer = outcome.kind === 'json' ? (JSON.parse(outcome.line) as Record<string, unknown>) : undefined;
    if (!answer || !isObject(answer.result)) {
      const reason = outcome.kind === 'failed' ? (outcome.failure?.message ?? outcome.reason) : 'the MCP server refused to initialize';
      session.close('the MCP server refused to initialize', 502);
      const code = outcome.kind === 'failed' && outcome.status === 504 ? MCP_ERRORS.GW_MCP_INIT_TIMEOUT : MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE;
      throw mcpHttpError(code, reason, { data: answer?.error === undefined ? undefined : { server_error: answer.error } });
    }
    session.forward({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return { session, initializeResult: answer.result };
  }
}

// ---- one request --------------------------------------------------------------------------

async function forward(ctx: GatewayContext, manager: SessionManager, member: Member, message: Record<string, unknown>, mcp: McpRequestInfo): Promise<void> {
  const { session } = member;
  const pool = poolOf(manager);
  const clientId = mcp.id!;
  const method = mcp.method!;
  const gatewayId = pool.freshId();
  const params = isObject(message.params) ? { ...message.params } : {};
  const meta = isObject(params._meta) ? { ...params._meta } : {};
  for (const key of ENVELOPE_KEYS) delete meta[key];
  const clientToken = meta.progressToken;
  const hasToken = typeof clientToken === 'string' || typeof clientToken === 'number';
  // Progress tokens must be unique among the requests in flight in a session: the client's are not.
  if (hasToken) meta.progressToken = gatewayId;
  if (Object.keys(meta).length > 0) params._meta = meta;
  else delete params._meta;
  const legacyMessage = { ...message, id: gatewayId, params };
  const restore: Restore = { clientId, gatewayId, clientToken: hasToken ? (clientToken as string | number) : undefined, method, serverInfo: member.initializeResult.serverInfo };
  const pending = session.request(legacyMessage, gatewayId, method, {
    timeoutMs: manager.conf.request_timeout * 1000,
    legacy: false,
    httpErrors: false,
    report: (status, latency, rpcCode) => {
      ctx.gateway.upstreamOutcome = { status, latency };
      if (rpcCode !== undefined) ctx.gateway.mcpError = rpcCode;
    },
    requestId: ctx.gateway.requestId,
  }, mcp);
  const cancel = () => session.abandon(pending);
  ctx.res.once('close', cancel);
  let outcome: Outcome;
  try {
    outcome = await pending.outcome;
  } finally {
    ctx.res.off('close', cancel);
  }
  switch (outcome.kind) {
    case 'json':
      return sendJson(ctx, translate(outcome.line, restore) ?? outcome.line);
    case 'gone':
      throw clientGone();
    case 'failed':
      throw mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, outcome.failure?.message ?? outcome.reason, { status: outcome.status });
    case 'sse': {
      let translating: TranslatingConnection | undefined;
      try {
        translating = await openSse(ctx, {}, (res) => new TranslatingConnection(res, restore));
      } catch (err) {
        session.unpin(outcome.stream);
        throw err;
      }
      if (!translating) {
        session.unpin(outcome.stream);
        session.forward(cancelled(gatewayId, 'the client closed the response stream'));
        return;
      }
      // 2026-07-28: closing the response stream is cancellation; the server hears it on stdin.
      translating.onClose((finished) => {
        if (!finished && !translating.answered) session.forward(cancelled(gatewayId, 'the client closed the response stream'));
      });
      session.attach(outcome.stream, translating, 0);
    }
  }
}

function cancelled(requestId: JsonRpcId, reason: string): Record<string, unknown> {
  return { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } };
}

interface Restore {
  readonly clientId: JsonRpcId;
  readonly gatewayId: string;
  readonly clientToken?: string | number;
  readonly method: string;
  readonly serverInfo: unknown;
}

/**
 * An SSE response whose events are turned back into what the modern client asked for: its id, its
 * progress token, 2026 result fields. No event ids: 2026-07-28 has no resumption.
 */
class TranslatingConnection extends SseConnection {
  answered = false;

  constructor(
    res: SseConnection['res'],
    private readonly restore: Restore,
  ) {
    super(res);
  }

  override event(data: string, _id?: string, name?: string): boolean {
    if (data === '') return true;
    const out = translate(data, this.restore);
    if (out === undefined) return true;
    if (out.startsWith('{"jsonrpc":"2.0","id"')) this.answered = true;
    return super.event(out, undefined, name);
  }
}

/** One line from the pooled server as the modern client must read it; undefined drops it. */
function translate(line: string, restore: Restore): string | undefined {
  const message = JSON.parse(line) as Record<string, unknown>;
  if (typeof message.method === 'string') {
    if ('id' in message) return undefined;
    if (message.method === 'notifications/progress' && isObject(message.params)) {
      if (message.params.progressToken !== restore.gatewayId) return undefined;
      return JSON.stringify({ ...message, params: { ...message.params, progressToken: restore.clientToken } });
    }
    return line;
  }
  const answer: Record<string, unknown> = { jsonrpc: '2.0', id: restore.clientId };
  if (isObject(message.result)) answer.result = modernResult(restore.method, message.result, restore.serverInfo);
  else answer.error = message.error;
  return JSON.stringify(answer);
}

/** A 2025-era result with the fields 2026-07-28 requires. A legacy server gives no cache hint: private, not cached. */
function modernResult(method: string, result: Record<string, unknown>, serverInfo: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { ...result, resultType: 'complete' };
  if (CACHEABLE.has(method)) {
    out.ttlMs = 0;
    out.cacheScope = 'private';
  }
  if (isObject(serverInfo)) out._meta = { ...(isObject(result._meta) ? result._meta : {}), [SERVER_INFO_META]: serverInfo };
  return out;
}

function discoverResult(initialize: Record<string, unknown>): Record<string, unknown> {
  const capabilities = isObject(initialize.capabilities) ? { ...initialize.capabilities } : {};
  // Tasks are not part of 2026-07-28; the client would refuse the whole answer.
  delete capabilities.tasks;
  return modernResult(
    'server/discover',
    {
      supportedVersions: [MODERN_PROTOCOL_VERSION],
      capabilities,
      ...(typeof initialize.instructions === 'string' ? { instructions: initialize.instructions } : {}),
    },
    initialize.serverInfo,
  );
}

// ---- small helpers ------------------------------------------------------------------------

function rpcError(code: (typeof MCP_ERRORS)[keyof typeof MCP_ERRORS], id: JsonRpcId | null, rpcCode: number, message: string) {
  const error = mcpHttpError(code, message, { rpcCode });
  const body = error.body as { id: JsonRpcId | null };
  body.id = id;
  return error;
}

function sendJson(ctx: GatewayContext, line: string): void {
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = line;
}

function metaOf(message: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const params = message?.params;
  return isObject(params) && isObject(params._meta) ? params._meta : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with sorted keys: equal capability sets written in another order share a server. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
