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
 * A client that declares it can answer server requests (sampling, elicitation, roots) gets a
 * pooled server for one request at a time, so that whatever the server sends belongs to that
 * request: a request to the client ends the HTTP response with an `input_required` result whose
 * `requestState` names the parked call; the client's retry carrying `inputResponses` answers the
 * server, and the rest of the call (progress, the result) goes on the retry's response
 * (2026-07-28 multi round-trip requests). Other clients' requests share pooled servers; what such
 * a server sends that no request can be told apart for (logging with several requests in flight)
 * is dropped rather than guessed, and a request to the client is refused to the server.
 */
import { randomBytes } from 'node:crypto';
import type { GatewayContext, McpRequestInfo } from '../../../core/context.js';
import { clientGone } from '../../../core/errors.js';
import { NAMED_BY } from '../../../core/mcp.js';
import { MCP_ERRORS } from './errors.js';
import { answerOptions, consumerOf, openSse } from './http.js';
import { TRANSLATE, forwardModern, modernRemoteOf } from './modern-remote.js';
import { CAPABILITIES_META, CLIENT_INFO_META, INVALID_PARAMS, METHOD_NOT_FOUND, MISSING_REQUIRED_CLIENT_CAPABILITY, MODERN_PROTOCOL_VERSION, RESOURCE_NOT_FOUND_2025, PROTOCOL_VERSIONS, SERVER_INFO_META, VERSION_META, isObject, mcpHttpError, type JsonRpcId } from './jsonrpc.js';
import { canonicalJson } from '../canonical-json.js';
import type { Outcome } from './pending.js';
import type { Session } from './session.js';
import type { SessionManager } from './sessions.js';
import { SseConnection } from './sse.js';
import type { Stream } from './streams.js';

const LOG_LEVEL_META = 'io.modelcontextprotocol/logLevel';
const SUBSCRIPTION_META = 'io.modelcontextprotocol/subscriptionId';
/** The list changes a `subscriptions/listen` filter names, the 2025 notification of each, and the server capability that promises it. */
const LISTENABLE: Readonly<Record<string, { readonly method: string; readonly capability: string }>> = {
  toolsListChanged: { method: 'notifications/tools/list_changed', capability: 'tools' },
  promptsListChanged: { method: 'notifications/prompts/list_changed', capability: 'prompts' },
  resourcesListChanged: { method: 'notifications/resources/list_changed', capability: 'resources' },
};
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
/** Methods whose name goes in `Mcp-Name` (2026-07-28 transports); NAMED_BY says where the body has it. */
const MCP_NAME_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);
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
  // A remote server that speaks 2026-07-28 itself gets the request as it is (modern-remote.ts).
  const remote = await modernRemoteOf(manager);
  if (remote && (await forwardModern(ctx, manager, remote, message, mcp)) !== TRANSLATE) return;
  // A server the gateway speaks 2025 to learns the client only from this envelope.
  checkEnvelope(message, id);
  const method = mcp.method!;
  if (method !== 'server/discover' && method !== 'subscriptions/listen' && !FORWARDED.has(method)) {
    throw rpcError(MCP_ERRORS.GW_MCP_METHOD_NOT_FOUND, id, METHOD_NOT_FOUND, `Method not found: ${method}`);
  }
  const state = (message.params as Record<string, unknown> | undefined)?.requestState;
  if (typeof state === 'string') return resume(ctx, manager, message, mcp, state);
  const pool = poolOf(manager);
  const meta = metaOf(message) ?? {};
  if (method === 'subscriptions/listen') return listen(ctx, pool, meta, message, mcp, id!);
  const member = await pool.member(ctx, meta);
  if (method === 'server/discover') {
    pool.release(member);
    return sendJson(ctx, JSON.stringify({ jsonrpc: '2.0', id, result: discoverResult(member.initializeResult) }));
  }
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
  const field = MCP_NAME_METHODS.has(mcp.method) ? NAMED_BY[mcp.method] : undefined;
  if (!field) return;
  const name = header('mcp-name');
  const bodyName = (message.params as Record<string, unknown> | undefined)?.[field];
  if (name === undefined) throw mismatch(`the Mcp-Name header is required for ${mcp.method}`);
  if (name !== bodyName) throw mismatch(`Mcp-Name is ${JSON.stringify(name)} but params.${field} is ${JSON.stringify(bodyName)}`);
}

/**
 * Every 2026-07-28 request names its protocol version and the client's capabilities in `_meta`
 * (clientInfo is a SHOULD): without them the server cannot know what the client can do, and the
 * request is malformed — 400, -32602 (basic/lifecycle "Per-request metadata").
 */
function checkEnvelope(message: Record<string, unknown>, id: JsonRpcId | null): void {
  const meta = metaOf(message);
  const missing = !meta
    ? 'params._meta'
    : typeof meta[VERSION_META] !== 'string'
      ? `_meta["${VERSION_META}"]`
      : !isObject(meta[CAPABILITIES_META])
        ? `_meta["${CAPABILITIES_META}"]`
        : undefined;
  if (missing) throw rpcError(MCP_ERRORS.GW_MCP_INVALID_MESSAGE, id, INVALID_PARAMS, `Invalid params: a ${MODERN_PROTOCOL_VERSION} request must carry ${missing}`);
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
  /** Carries one request at a time (its client may be asked for input); back to the pool with `release`. */
  readonly exclusive: boolean;
  /** process_mode per-request: started for one request, ended with it. */
  readonly oneShot?: boolean;
}

/** A call whose server asked the client for input: waiting for the client's retry. */
interface Parked {
  readonly member: Member;
  readonly consumer: string | undefined;
  readonly stream: Stream;
  readonly gatewayId: string;
  readonly clientToken?: string | number;
  readonly method: string;
  /** The server's own request ids, by the key the client answers under. */
  readonly asked: Map<string, JsonRpcId>;
  readonly timer: NodeJS.Timeout;
}

/** Client capabilities that let a server send it requests. */
const ANSWERING_CAPABILITIES = ['sampling', 'elicitation', 'roots'];

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
 * The sessions a manager keeps for modern requests, per (consumer, capability set): a consumer's
 * requests never share a server with another consumer's, as a session never does. Shared members
 * take any number of requests at once; exclusive ones one at a time.
 */
class ModernPool {
  private readonly shared = new Map<string, Promise<Member>>();
  private readonly idle = new Map<string, Member[]>();
  readonly parked = new Map<string, Parked>();
  private nextId = 1;

  constructor(readonly manager: SessionManager) {}

  /** A fresh id for a request sent through a pooled session (never one a client chose). */
  freshId(): string {
    return `tg-${this.nextId++}`;
  }

  async member(ctx: GatewayContext, meta: Record<string, unknown>): Promise<Member> {
    const capabilities = isObject(meta[CAPABILITIES_META]) ? meta[CAPABILITIES_META] : {};
    const consumer = consumerOf(ctx);
    const key = `${consumer ?? ''}\n${canonicalJson(capabilities)}`;
    if ((this.manager.conf as { process_mode?: string }).process_mode === 'per-request') {
      // A server that must not share state between requests: a fresh child each time.
      const member = await this.start(ctx, capabilities, meta[CLIENT_INFO_META], key, true);
      return { ...member, oneShot: true };
    }
    if (ANSWERING_CAPABILITIES.some((name) => name in capabilities)) {
      const idle = this.idle.get(key) ?? [];
      let member: Member | undefined;
      while ((member = idle.pop()) && member.session.closed);
      if (member) return member;
      return this.start(ctx, capabilities, meta[CLIENT_INFO_META], key, true);
    }
    let member = this.shared.get(key);
    if (member) {
      const ready = await member.catch(() => undefined);
      if (ready && !ready.session.closed) return ready;
      if (this.shared.get(key) === member) this.shared.delete(key);
      member = this.shared.get(key);
    }
    if (!member) {
      member = this.start(ctx, capabilities, meta[CLIENT_INFO_META], key, false);
      this.shared.set(key, member);
      member.catch(() => {
        if (this.shared.get(key) === member) this.shared.delete(key);
      });
    }
    return member;
  }

  /** An exclusive member's request is over: the next request with its capabilities may have it. */
  release(member: Member): void {
    if (member.oneShot) return member.session.close('the client ended the session');
    if (!member.exclusive || member.session.closed) return;
    const key = keys.get(member)!;
    const idle = this.idle.get(key) ?? [];
    idle.push(member);
    this.idle.set(key, idle);
  }

  private async start(ctx: GatewayContext, capabilities: Record<string, unknown>, clientInfo: unknown, key: string, exclusive: boolean): Promise<Member> {
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
    // A prewarmed child fits when the request declared no capabilities (prewarm.ts).
    const session = this.manager.open('streamable-http', consumerOf(ctx), initialize.params);
    session.pooled = true;
    session.exclusive = exclusive;
    try {
      await this.manager.start(session, ctx.gateway.signal);
    } catch (err) {
      if ((err as { status?: number }).status === 502) ctx.gateway.upstreamOutcome = { status: 502 };
      throw err;
    }
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
    const member = { session, initializeResult: answer.result, exclusive };
    keys.set(member, key);
    return member;
  }
}

/** The pool key each member was started under. */
const keys = new WeakMap<Member, string>();

// ---- one request --------------------------------------------------------------------------

async function forward(ctx: GatewayContext, manager: SessionManager, member: Member, message: Record<string, unknown>, mcp: McpRequestInfo): Promise<void> {
  const { session } = member;
  const pool = poolOf(manager);
  const clientId = mcp.id!;
  const method = mcp.method!;
  const gatewayId = pool.freshId();
  const params = isObject(message.params) ? { ...message.params } : {};
  // Multi round-trip fields are the gateway's to act on, not the 2025-era server's. Answers sent
  // without a requestState (as to a server that keeps none) answer the server's questions they name.
  const answers = isObject(params.inputResponses) ? params.inputResponses : undefined;
  delete params.inputResponses;
  delete params.requestState;
  const meta = isObject(params._meta) ? { ...params._meta } : {};
  for (const key of ENVELOPE_KEYS) delete meta[key];
  const clientToken = meta.progressToken;
  const hasToken = typeof clientToken === 'string' || typeof clientToken === 'number';
  // Progress tokens must be unique among the requests in flight in a session: the client's are not.
  if (hasToken) meta.progressToken = gatewayId;
  if (Object.keys(meta).length > 0) params._meta = meta;
  else delete params._meta;
  const legacyMessage = { ...message, id: gatewayId, params };
  const uri = method === 'resources/read' && typeof params.uri === 'string' ? params.uri : undefined;
  const restore: Restore = { clientId, gatewayId, clientToken: hasToken ? (clientToken as string | number) : undefined, method, serverInfo: member.initializeResult.serverInfo, uri, answers };
  let pending;
  try {
    pending = session.request(legacyMessage, gatewayId, method, answerOptions(ctx, manager), mcp);
  } catch (err) {
    pool.release(member);
    throw err;
  }
  const cancel = () => session.abandon(pending);
  ctx.res.once('close', cancel);
  let outcome: Outcome;
  try {
    outcome = await pending.outcome;
  } finally {
    ctx.res.off('close', cancel);
  }
  if (outcome.kind !== 'sse') pool.release(member);
  switch (outcome.kind) {
    case 'json': {
      // A JSON outcome is the response to the request.
      const answer = modernAnswer(JSON.parse(outcome.line) as Record<string, unknown>, restore);
      // 2026-07-28: a method the server does not implement is 404 with -32601, whoever says so; a
      // request needing a capability the client did not declare is 400 (-32021); other errors 200.
      const code = isObject(answer.error) ? answer.error.code : undefined;
      return sendJson(ctx, JSON.stringify(answer), code === METHOD_NOT_FOUND ? 404 : code === MISSING_REQUIRED_CLIENT_CAPABILITY ? 400 : 200);
    }
    case 'gone':
      throw clientGone();
    case 'failed':
      throw mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, outcome.failure?.message ?? outcome.reason, { status: outcome.status });
    case 'sse':
      return stream(ctx, pool, member, outcome.stream, restore, 0);
  }
}

/**
 * The call goes on as an SSE response: translated for the client, cancelled at the server if the
 * client closes it early, and (exclusive members) ended with `input_required` when the server asks
 * the client something.
 */
async function stream(ctx: GatewayContext, pool: ModernPool, member: Member, events: Stream, restore: Restore, afterSeq: number): Promise<void> {
  const { session } = member;
  const cancelAtServer = () => {
    session.cancelForClient(restore.gatewayId, 'the client closed the response stream');
    pool.release(member);
  };
  let connection: TranslatingConnection | undefined;
  try {
    const ask = member.exclusive ? (requests: Array<Record<string, unknown>>) => park(ctx, pool, member, events, restore, requests) : undefined;
    const reply = member.exclusive ? (id: JsonRpcId, result: Record<string, unknown>) => session.forward({ jsonrpc: '2.0', id, result }) : undefined;
    connection = await openSse(ctx, {}, (res) => new TranslatingConnection(res, restore, ask, reply));
  } catch (err) {
    session.unpin(events);
    cancelAtServer();
    throw err;
  }
  if (!connection) {
    session.unpin(events);
    return cancelAtServer();
  }
  const translating = connection;
  // 2026-07-28: closing the response stream is cancellation; the server hears it on stdin.
  translating.onClose(() => {
    if (translating.answered) pool.release(member);
    else if (!translating.parked) cancelAtServer();
  });
  session.attach(events, translating, afterSeq);
}

/**
 * The server asked the client something (one question, or several sent at once): the call waits
 * for the client's retry (its `requestState`), and the HTTP response ends with the questions, each
 * named after the server's request id. Returns the `input_required` result to send.
 */
function park(ctx: GatewayContext, pool: ModernPool, member: Member, events: Stream, restore: Restore, requests: Array<Record<string, unknown>>): Record<string, unknown> {
  const state = randomBytes(18).toString('base64url');
  const timeoutMs = pool.manager.conf.request_timeout * 1000;
  const timer = setTimeout(() => {
    // The client never came back: the call ends at the server, and its server serves others.
    if (pool.parked.get(state) !== parked) return;
    pool.parked.delete(state);
    pool.manager.logger.info({ method: restore.method }, 'a client did not answer an input_required result in time; its call is cancelled');
    member.session.cancelForClient(restore.gatewayId, 'the client did not answer the input request in time');
    pool.release(member);
  }, timeoutMs);
  timer.unref();
  const parked: Parked = {
    member,
    consumer: consumerOf(ctx),
    stream: events,
    gatewayId: restore.gatewayId,
    clientToken: restore.clientToken,
    method: restore.method,
    asked: new Map(requests.map((request) => [String(request.id), request.id as JsonRpcId])),
    timer,
  };
  pool.parked.set(state, parked);
  const inputRequests: Record<string, unknown> = {};
  for (const request of requests) {
    inputRequests[String(request.id)] = { method: request.method, ...(request.params === undefined ? {} : { params: request.params }) };
  }
  return modernResult(restore.method, { resultType: 'input_required', inputRequests, requestState: state }, restore.serverInfo);
}

/** A retry carrying `requestState`: the client's answers go to the server, the call's rest to this response. */
async function resume(ctx: GatewayContext, manager: SessionManager, message: Record<string, unknown>, mcp: McpRequestInfo, state: string): Promise<void> {
  const pool = poolOf(manager);
  const parked = pool.parked.get(state);
  const params = message.params as Record<string, unknown>;
  if (!parked || parked.consumer !== consumerOf(ctx) || parked.method !== mcp.method || parked.member.session.closed) {
    throw rpcError(MCP_ERRORS.GW_MCP_INVALID_MESSAGE, mcp.id ?? null, INVALID_PARAMS, 'requestState is unknown or expired; send the request again without it');
  }
  pool.parked.delete(state);
  clearTimeout(parked.timer);
  const responses = isObject(params.inputResponses) ? params.inputResponses : {};
  for (const [key, serverId] of parked.asked) {
    const answer = responses[key];
    const reply = isObject(answer)
      ? { jsonrpc: '2.0', id: serverId, result: answer }
      : { jsonrpc: '2.0', id: serverId, error: { code: INVALID_PARAMS, message: `the client sent no answer for input request ${key}` } };
    parked.member.session.forward(reply);
  }
  const token = (isObject(params._meta) ? params._meta.progressToken : undefined) as string | number | undefined;
  const restore: Restore = {
    clientId: mcp.id!,
    gatewayId: parked.gatewayId,
    clientToken: token ?? parked.clientToken,
    method: parked.method,
    serverInfo: parked.member.initializeResult.serverInfo,
  };
  parked.stream.pinned = true;
  return stream(ctx, pool, parked.member, parked.stream, restore, parked.stream.lastWritten);
}

/**
 * `subscriptions/listen`: a long-lived POST whose SSE stream carries the list changes and resource
 * updates the client asked for, from a shared pooled server of its consumer and capabilities
 * (those that let a server ask the client something left out: a listener is never asked). The
 * acknowledgement says what is granted: the list changes, and of the resource URIs those the
 * route's access rules let the consumer use (mcp-acl) and the server accepted a
 * `resources/subscribe` for (when its capabilities say it can).
 */
async function listen(ctx: GatewayContext, pool: ModernPool, meta: Record<string, unknown>, message: Record<string, unknown>, mcp: McpRequestInfo, id: JsonRpcId): Promise<void> {
  const asked = isObject(message.params) && isObject(message.params.notifications) ? message.params.notifications : {};
  const uris = resourceUris(asked.resourceSubscriptions, id, pool.manager.conf.max_resource_subscriptions);
  const capabilities = isObject(meta[CAPABILITIES_META]) ? { ...meta[CAPABILITIES_META] } : {};
  for (const name of ANSWERING_CAPABILITIES) delete capabilities[name];
  const member = await pool.member(ctx, { ...meta, [CAPABILITIES_META]: capabilities });
  const { session } = member;
  const serverCapabilities = isObject(member.initializeResult.capabilities) ? member.initializeResult.capabilities : {};
  // 2026-07-28: what the server does not support is left out of the acknowledgement; a 2025
  // server promises list changes by `listChanged` in its capabilities.
  const granted: Record<string, unknown> = {};
  for (const [name, { capability }] of Object.entries(LISTENABLE)) {
    const declared = serverCapabilities[capability];
    if (asked[name] === true && isObject(declared) && declared.listChanged === true) granted[name] = true;
  }
  const wanted = new Set(Object.keys(granted).map((name) => LISTENABLE[name].method));
  const serverResources = serverCapabilities.resources;
  // A denied URI is left out as one the server refused: the client learns nothing of it.
  const permitted = isObject(serverResources) && serverResources.subscribe === true ? uris.filter((uri) => mcp.keeps('resource', uri)) : [];
  // The bound holds for the pooled server (a consumer's listen streams together), not only per
  // stream. Checked and counted in one turn: the watches below enter the map before any await.
  const max = pool.manager.conf.max_resource_subscriptions;
  const current = watches.get(session);
  const total = (current?.size ?? 0) + permitted.filter((uri) => !current?.has(uri)).length;
  if (total > max) {
    pool.release(member);
    throw rpcError(
      MCP_ERRORS.GW_MCP_INVALID_MESSAGE,
      id,
      INVALID_PARAMS,
      `Invalid params: the server would watch ${total} resources for this client's streams; this route allows ${max} (max_resource_subscriptions)`,
    );
  }
  /** This stream's share in the server's subscriptions. */
  const token = {};
  const subscribed = await Promise.all(permitted.map((uri) => watch(pool, session, uri, token)));
  const watched = new Set(permitted.filter((_, i) => subscribed[i]));
  const leave = () => {
    for (const uri of watched) unwatch(pool, session, uri, token);
    pool.release(member);
  };
  if (watched.size > 0) granted.resourceSubscriptions = [...watched];
  let connection: SseConnection | undefined;
  try {
    connection = await openSse(ctx, {});
  } catch (err) {
    leave();
    throw err;
  }
  if (!connection) return leave();
  const subscription = { [SUBSCRIPTION_META]: id };
  connection.event(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: granted, _meta: subscription } }));
  if (session.closed) {
    leave();
    return connection.end();
  }
  const stream = connection;
  const listener = {
    connection: stream,
    heard(method: string, params: Record<string, unknown>) {
      if (method === 'notifications/resources/updated' ? !(typeof params.uri === 'string' && watched.has(params.uri)) : !wanted.has(method)) return;
      const own = isObject(params._meta) ? params._meta : {};
      stream.event(JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, _meta: { ...own, ...subscription } } }));
    },
  };
  session.listeners.add(listener);
  connection.onClose(() => {
    session.listeners.delete(listener);
    leave();
  });
}

/** `resourceSubscriptions` as asked: distinct URIs, at most `max` of them (400 otherwise, before anything is subscribed). */
function resourceUris(value: unknown, id: JsonRpcId, max: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((uri) => typeof uri === 'string' && uri.length > 0)) {
    throw rpcError(MCP_ERRORS.GW_MCP_INVALID_MESSAGE, id, INVALID_PARAMS, 'Invalid params: notifications.resourceSubscriptions must be an array of resource URIs');
  }
  const uris = [...new Set(value as string[])];
  if (uris.length > max) {
    throw rpcError(MCP_ERRORS.GW_MCP_INVALID_MESSAGE, id, INVALID_PARAMS, `Invalid params: ${uris.length} resourceSubscriptions; this route allows ${max} per subscriptions/listen (max_resource_subscriptions)`);
  }
  return uris;
}

/**
 * A pooled server's resource subscriptions: one `resources/subscribe` per URI however many of
 * its listeners watch it (the server's subscriptions are per connection, and the gateway is its
 * one client), `resources/unsubscribe` when the last one goes. Pooled servers are per consumer,
 * so one consumer's subscriptions never bring another's updates.
 */
interface Watch {
  readonly listeners: Set<object>;
  /** Whether the server accepted the subscription. */
  readonly subscribed: Promise<boolean>;
}

const watches = new WeakMap<Session, Map<string, Watch>>();

async function watch(pool: ModernPool, session: Session, uri: string, listener: object): Promise<boolean> {
  let byUri = watches.get(session);
  if (!byUri) watches.set(session, (byUri = new Map()));
  let entry = byUri.get(uri);
  if (!entry) {
    const fresh: Watch = { listeners: new Set(), subscribed: askServer(pool, session, 'resources/subscribe', uri) };
    byUri.set(uri, fresh);
    void fresh.subscribed.then((ok) => {
      if (!ok && byUri.get(uri) === fresh) byUri.delete(uri);
    });
    entry = fresh;
  }
  entry.listeners.add(listener);
  const ok = await entry.subscribed;
  if (!ok) entry.listeners.delete(listener);
  return ok;
}

function unwatch(pool: ModernPool, session: Session, uri: string, listener: object): void {
  const byUri = watches.get(session);
  const entry = byUri?.get(uri);
  if (!entry || !entry.listeners.delete(listener) || entry.listeners.size > 0) return;
  byUri!.delete(uri);
  if (!session.closed) void askServer(pool, session, 'resources/unsubscribe', uri);
}

/** A request of the gateway's own to a pooled server; true when it answered with a result. */
async function askServer(pool: ModernPool, session: Session, method: string, uri: string): Promise<boolean> {
  const id = pool.freshId();
  try {
    const options = { timeoutMs: pool.manager.conf.request_timeout * 1000, legacy: false, httpErrors: false, quiet: true };
    const outcome = await session.request({ jsonrpc: '2.0', id, method, params: { uri } }, id, method, options).outcome;
    return outcome.kind === 'json' && isObject((JSON.parse(outcome.line) as Record<string, unknown>).result);
  } catch {
    // The session ended or its server is not reading: no subscription.
    return false;
  }
}


interface Restore {
  readonly clientId: JsonRpcId;
  readonly gatewayId: string;
  readonly clientToken?: string | number;
  readonly method: string;
  readonly serverInfo: unknown;
  /** resources/read: the resource asked for, which a not-found error names. */
  readonly uri?: string;
  /** `inputResponses` the request came with (no requestState): answers to the questions they name. */
  readonly answers?: Record<string, unknown>;
}

/**
 * An SSE response whose events are turned back into what the modern client asked for: its id, its
 * progress token, 2026 result fields. No event ids: 2026-07-28 has no resumption. With `ask`, a
 * request from the server ends the response with the `input_required` result `ask` returns.
 */
class TranslatingConnection extends SseConnection {
  /** The call's final answer went out. */
  answered = false;
  /** The response ended with input_required: the call waits for the client's retry. */
  parked = false;
  /** The server's questions heard so far, sent together once the lines read with the first are through. */
  private questions?: Array<Record<string, unknown>>;
  /** What the client answered before being asked, each used once (a question asked again is asked). */
  private readonly answers: Map<string, Record<string, unknown>>;

  constructor(
    res: SseConnection['res'],
    private readonly restore: Restore,
    private readonly ask?: (requests: Array<Record<string, unknown>>) => Record<string, unknown>,
    private readonly reply?: (id: JsonRpcId, result: Record<string, unknown>) => void,
  ) {
    super(res);
    this.answers = new Map(Object.entries(restore.answers ?? {}).filter((entry): entry is [string, Record<string, unknown>] => isObject(entry[1])));
  }

  override event(data: string, _id?: string, name?: string): boolean {
    if (data === '' || this.answered || this.parked) return true;
    let message: Record<string, unknown> | undefined;
    if (this.ask && data.includes('"method"')) {
      message = JSON.parse(data) as Record<string, unknown>;
      if (typeof message.method === 'string' && 'id' in message) {
        const key = String(message.id);
        const answer = this.answers.get(key);
        if (answer && this.reply) {
          this.answers.delete(key);
          this.reply(message.id as JsonRpcId, answer);
          return true;
        }
        // A server asking several things at once writes them together: the lines of one read
        // are delivered in one tick, so every question of the batch is in before setImmediate.
        // One that comes later is not written here (the response has ended); the stream keeps
        // it, and the client's retry gets it as the next round.
        if (!this.questions) {
          this.questions = [];
          setImmediate(() => this.askAll(name));
        }
        this.questions.push(message);
        return true;
      }
    }
    const out = translate(data, this.restore, message);
    if (out === undefined) return true;
    if (out.startsWith('{"jsonrpc":"2.0","id"')) this.answered = true;
    return super.event(out, undefined, name);
  }

  private askAll(name: string | undefined): void {
    // A client that left meanwhile cancelled the call (stream()'s onClose): nothing to park.
    if (this.closed || !this.questions) return;
    this.parked = true;
    super.event(JSON.stringify({ jsonrpc: '2.0', id: this.restore.clientId, result: this.ask!(this.questions) }), undefined, name);
    this.end();
  }
}

/** One line from the pooled server (`message`, when already parsed) as the modern client must read it; undefined drops it. */
function translate(line: string, restore: Restore, message = JSON.parse(line) as Record<string, unknown>): string | undefined {
  if (typeof message.method === 'string') {
    if ('id' in message) return undefined;
    if (message.method === 'notifications/progress' && isObject(message.params)) {
      if (message.params.progressToken !== restore.gatewayId) return undefined;
      return JSON.stringify({ ...message, params: { ...message.params, progressToken: restore.clientToken } });
    }
    return line;
  }
  return JSON.stringify(modernAnswer(message, restore));
}

/** The pooled server's response as the modern client's answer. */
function modernAnswer(response: Record<string, unknown>, restore: Restore): Record<string, unknown> {
  const answer: Record<string, unknown> = { jsonrpc: '2.0', id: restore.clientId };
  if (isObject(response.result)) answer.result = modernResult(restore.method, response.result, restore.serverInfo);
  else answer.error = modernError(response.error, restore);
  return answer;
}

/** 2026-07-28 (SEP-2164) says an unknown resource is -32602 with `data.uri`; a 2025 server says -32002. */
function modernError(error: unknown, restore: Restore): unknown {
  if (restore.method !== 'resources/read' || !isObject(error) || error.code !== RESOURCE_NOT_FOUND_2025) return error;
  const data = { ...(isObject(error.data) ? error.data : {}), ...(restore.uri === undefined ? {} : { uri: restore.uri }) };
  return { ...error, code: INVALID_PARAMS, data };
}

/** A 2025-era result with the fields 2026-07-28 requires. A legacy server gives no cache hint: private, not cached. */
function modernResult(method: string, result: Record<string, unknown>, serverInfo: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { resultType: 'complete', ...result };
  if (out.resultType === 'complete' && CACHEABLE.has(method)) {
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

function sendJson(ctx: GatewayContext, line: string, status = 200): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = line;
}

function metaOf(message: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const params = message?.params;
  return isObject(params) && isObject(params._meta) ? params._meta : undefined;
}
