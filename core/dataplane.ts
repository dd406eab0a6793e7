/**
 * The data plane: one Koa app with one middleware that matches a route and runs its compiled
 * plugin chain. Phase order is APISIX's: rewrite → (consumer merge) → access → content →
 * header filter → body filter → log, global rules first in every phase. Per-request work is kept
 * to a lookup in the compiled route table and a walk over pre-sorted arrays.
 */
import { randomUUID } from 'node:crypto';
import { createServer, ServerResponse, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import Koa from 'koa';
import { bodyTooLarge, readBody, checkDeclaredLength } from './body.js';
import { ClientAddressResolver, plainAddress } from './client-ip.js';
import type { GatewayConfig, ListenAddress } from './config.js';
import type { GatewayContext, McpRequestInfo } from './context.js';
import { CORE_ERRORS, errorBody, isGatewayError, type ErrorCode, type GatewayError } from './errors.js';
import type { Logger } from './logger.js';
import type { RequestOptions } from './plugin.js';
import { describeMcpMessage, describeNoMessage, mcpTransportOf } from './mcp.js';
import { hostHeader, hostName } from './host.js';
import { normalizeRequestTarget } from './path.js';
import {
  EMPTY_CHAIN,
  runBodyFilters,
  runHeaderFilters,
  runPhase,
  type Chain,
  type ExecutableRoute,
  type RouteMatch,
  type RouteResolver,
} from './pipeline.js';
import { RequestState, type BodyNeeds } from './request.js';
import { replyWithError, respond } from './respond.js';
import { LogThrottle } from './log-throttle.js';
import { listen } from './listen.js';
import { proxyRequest } from './upstream/proxy.js';
import type { Relay } from './relay/relay.js';

export interface DataPlaneOptions {
  config: Readonly<GatewayConfig>;
  resolver: RouteResolver;
  logger: Logger;
  /** Called after the log phase of every request (the access log hooks in here). */
  onRequestDone?(ctx: GatewayContext, state: RequestState): void;
  /** Passes requests for sessions another process owns on to it (core/relay/relay.ts). */
  relay?: Relay;
}

/** The chains a request runs, kept for the phases after content. */
interface Chains {
  global: Chain;
  route: Chain;
}

const NOT_FOUND = CORE_ERRORS.GW_ROUTE_NOT_FOUND.error();

export class DataPlane {
  readonly app: Koa;
  readonly server: Server;
  private readonly clientAddress: ClientAddressResolver;
  /**
   * Requests between arrival and their response's close. A count, not a set of responses: a set
   * with this churn rehashes every few dozen requests, and a discarded table that has reached the
   * old generation keeps the responses it listed (and all they point to) alive until a full GC.
   */
  private inFlight = 0;
  private readonly sockets = new Set<Socket>();
  private accepted = 0;
  private port = 0;
  private readonly logThrottle = new LogThrottle();
  private draining = false;

  constructor(private readonly options: DataPlaneOptions) {
    const { config } = options;
    this.clientAddress = new ClientAddressResolver(config.gateway.trusted_proxies, config.gateway.real_ip_header);
    // Koa supplies the context plugins program against; the request loop is ours (core/respond.ts).
    this.app = new Koa();
    this.app.silent = true;
    this.server = createServer(
      {
        maxHeaderSize: config.limits.max_header_bytes,
        headersTimeout: config.timeouts.headers * 1000,
        // Bodies are bounded by an idle timer instead: a long upload that keeps moving is fine.
        requestTimeout: 0,
        keepAliveTimeout: config.timeouts.keep_alive * 1000,
        // Node checks the headers timeout on this interval (30 s by default): a slowloris
        // client would otherwise hold a socket for up to 30 s past the limit.
        connectionsCheckingInterval: Math.min(1000, Math.max(50, (config.timeouts.headers * 1000) / 4)),
      },
      (req, res) => this.onRequest(req, res, false),
    );
    // Expect: 100-continue. Node would answer `100 Continue` at once; the gateway does when it
    // starts reading the body (continueUpload), so a request refused before (auth, limits, 413)
    // never uploads, as with nginx.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res, true));
    // Node silently drops headers past maxHeadersCount; let one extra through so we can refuse.
    this.server.maxHeadersCount = config.limits.max_headers + 1;
    this.server.maxConnections = config.limits.max_connections;
    this.server.on('connection', (socket: Socket) => {
      this.accepted += 1;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(err, socket));
    // A request asking to switch protocols (WebSocket) arrives here with its socket, not to the
    // request handler: it runs the same chain over a response bound to that socket, and the proxy
    // tunnels the connection when its route allows WebSocket (upgradeResponse).
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.serve(req, upgradeResponse(req, socket, head), false));
  }

  /**
   * A request a relay listener received from another gateway process (its signature checked):
   * served here whatever session it names, never relayed again.
   */
  acceptRelayed(req: IncomingMessage, res: ServerResponse): void {
    this.serve(req, res, false);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, awaitingContinue: boolean): void {
    const relay = this.options.relay;
    if (relay?.intercept(req, res, () => this.serve(req, res, awaitingContinue))) {
      // Relayed (or being looked up): the drain waits for it as for any request.
      this.inFlight += 1;
      res.once('close', () => (this.inFlight -= 1));
      return;
    }
    this.serve(req, res, awaitingContinue);
  }

  private serve(req: IncomingMessage, res: ServerResponse, awaitingContinue: boolean): void {
    this.inFlight += 1;
    // Attached before anything can write: a write after the response ended (a plugin's bug)
    // emits 'error' on it, and an emitter's error with no listener ends the process.
    res.on('error', this.onResponseError);
    if (this.draining) res.setHeader('connection', 'close');
    const ctx = this.app.createContext(req, res) as GatewayContext;
    res.statusCode = 404;
    // Both outcomes handled, and the first cannot throw: a rejection nobody handles ends the process.
    this.handle(ctx, awaitingContinue).then(
      () => {
        try {
          respond(ctx, (err) => this.options.logger.warn({ err }, 'response stream failed'));
        } catch (err) {
          this.handlingFailed(ctx, err);
        }
      },
      (err: unknown) => this.handlingFailed(ctx, err),
    );
  }

  /** A bug in the request's handling or in writing its reply (a body JSON cannot serialize): 500, or a cut response. */
  private handlingFailed(ctx: GatewayContext, err: unknown): void {
    const { res } = ctx;
    const requestId = (ctx.gateway as RequestState | undefined)?.requestId ?? '';
    this.options.logger.error({ err, requestId }, 'request handling failed');
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) if (name !== 'connection') res.removeHeader(name);
    const body = JSON.stringify(errorBody(CORE_ERRORS.GW_INTERNAL.error(), requestId));
    res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private readonly onResponseError = (err: Error): void => {
    if (!this.logThrottle.take('response-stream').ok) return;
    this.options.logger.error({ err }, 'response stream failed');
  };

  async listen(address: ListenAddress): Promise<ListenAddress> {
    const bound = await listen(this.server, address, (err) => this.options.logger.error({ err }, 'data plane listener error'));
    this.port = bound.port;
    return bound;
  }

  /**
   * Stops accepting, then runs `beforeDrain` (the route table disposes its plugin instances, so
   * long-lived streams such as MCP sessions end now instead of holding the drain), lets requests
   * in flight finish for up to `graceMs`, and cuts the rest.
   */
  async close(graceMs: number, beforeDrain?: () => void | Promise<void>): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await beforeDrain?.();
    const deadline = Date.now() + graceMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      this.server.closeIdleConnections();
    }
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  get activeRequests(): number {
    return this.inFlight;
  }

  /** Client connections open right now (for the connections gauge). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Client connections accepted since start (for APISIX's connections gauge). */
  get acceptedConnections(): number {
    return this.accepted;
  }

  private async handle(ctx: GatewayContext, awaitingContinue: boolean): Promise<void> {
    const startTime = performance.now();
    const { req, res } = ctx;
    let state: RequestState;
    let malformed: unknown;
    try {
      const target = normalizeRequestTarget(req.url ?? '/');
      // Checked for absolute-form targets too, whose authority then replaces the header.
      const header = hostHeader(req);
      const authority = target.authority ?? header;
      state = new RequestState(
        randomUUID(),
        startTime,
        this.clientAddress.resolve(req.socket.remoteAddress, req.headers),
        target.path,
        target.query,
        hostName(authority),
        'http',
        this.port,
        req,
        res,
      );
      state.authority = target.authority;
      state.peerTrusted = this.clientAddress.trusts(req.socket.remoteAddress);
    } catch (err) {
      // A request whose target or Host cannot be read is still a request: it gets its id, its
      // code, the global rules' header filters and log phase, and its access log line.
      malformed = err;
      state = new RequestState(
        randomUUID(),
        startTime,
        // The peer itself: what it forwarded may be what was wrong.
        plainAddress(req.socket.remoteAddress),
        rawPathOf(req.url),
        '',
        '',
        'http',
        this.port,
        req,
        res,
      );
      // What follows on the connection cannot be trusted to be framed as the client meant.
      res.setHeader('connection', 'close');
    }
    ctx.gateway = state;
    state.awaitingContinue = awaitingContinue;
    const chains: Chains = { global: this.options.resolver.globalChain(), route: EMPTY_CHAIN };
    state.chains = chains;
    state.headerCommitter = async () => {
      if (chains.global.headerFilter.length > 0) await runHeaderFilters(chains.global.headerFilter, ctx);
      if (chains.route.headerFilter.length > 0) await runHeaderFilters(chains.route.headerFilter, ctx);
    };
    // One listener per request: the log phase, and the in-flight bookkeeping the drain waits on.
    res.once('close', () => {
      this.inFlight -= 1;
      this.finish(ctx, state, chains);
    });

    try {
      if (malformed !== undefined) throw malformed;
      if (req.rawHeaders.length / 2 > this.options.config.limits.max_headers) {
        throw CORE_ERRORS.GW_TOO_MANY_HEADERS.error({ message: `more than ${this.options.config.limits.max_headers} request headers` });
      }
      let match = this.options.resolver.match(req.method ?? 'GET', state.host, state.path, state.clientIp, state);
      // Awaited only when a route's vars read the body: every await costs on the hot path.
      if (match?.needsBody) match = await this.matchWithBody(ctx, state, match);
      if (match) {
        state.route = match.route.info;
        state.params = match.params;
        state.matchedUri = match.uri;
        state.matchedHost = match.host;
      }
      if (!(chains.global.rewrite.length > 0 && (await runPhase('rewrite', chains.global.rewrite, ctx)))) {
        if (match) {
          await this.runRoute(ctx, state, match.route, chains);
        } else if (!(await runPhase('access', chains.global.access, ctx))) {
          throw NOT_FOUND;
        }
      }
      if (ctx.respond !== false) await this.finishLocalReply(ctx, state, chains);
    } catch (err) {
      await this.replyWithError(ctx, state, err, chains);
    }
  }

  /**
   * The request's route when the lookup stopped at a candidate whose `vars` read the body
   * (`post_arg_*`, `mcp_*`): the body is read within that candidate's limits (413, 408 as for
   * any body) and the lookup runs again. Only a request that reaches such a route is read
   * before its route is known, and each read serves every later pass.
   */
  private async matchWithBody(ctx: GatewayContext, state: RequestState, first: RouteMatch): Promise<RouteMatch | undefined> {
    const method = ctx.req.method ?? 'GET';
    let match: RouteMatch | undefined = first;
    // Each pass reads the body or describes the MCP request, so at most two more follow.
    while (match?.needsBody) {
      await this.prepareBody(ctx, state, match.route, match.needsBody);
      match = this.options.resolver.match(method, state.host, state.path, state.clientIp, state);
    }
    return match;
  }

  /** What a route's `vars` need from the body, read and described as that route would (its limit, its MCP endpoints). */
  private async prepareBody(ctx: GatewayContext, state: RequestState, route: ExecutableRoute, needs: BodyNeeds): Promise<void> {
    const { req } = ctx;
    const jsonRpc = route.options.jsonRpc;
    // A route that does not ask for JSON-RPC (a proxied MCP server) is read as Streamable HTTP, where a POST carries it.
    const transport = needs.jsonRpc ? (jsonRpc ? mcpTransportOf(state.path, jsonRpc.basePath) : 'streamable-http') : undefined;
    if (!state.bodyRead && (state.hasForm() || (transport && req.method === 'POST' && carriesJsonRpc(req, transport)))) {
      await this.readRequestBody(ctx, state, route.options.maxBodyBytes);
    }
    if (needs.jsonRpc) {
      state.mcpDescribed = true;
      state.mcp = transport ? this.describeMcpRequest(ctx, state, transport, jsonRpc?.maxBatchMessages) : undefined;
    }
  }

  private async readRequestBody(ctx: GatewayContext, state: RequestState, limit: number): Promise<void> {
    continueUpload(ctx, state);
    state.body = await readBody(ctx.req, limit, this.options.config.timeouts.request_body_idle * 1000);
    state.bodyRead = true;
  }

  private async runRoute(ctx: GatewayContext, state: RequestState, route: ExecutableRoute, chains: Chains): Promise<void> {
    if (route.broken) throw CORE_ERRORS.GW_ROUTE_BROKEN.error({ cause: new Error(route.broken) });
    chains.route = route.chain;
    const { req } = ctx;
    const limit = route.options.maxBodyBytes;
    checkDeclaredLength(req, limit);
    // Read for another route's vars, within that route's limit: this one's may be lower.
    if (state.body !== undefined && state.body.length > limit) throw bodyTooLarge(limit);
    if (route.options.jsonRpc) await this.describeMcp(ctx, state, route.options.jsonRpc, limit);

    // Empty phases are skipped without an await: most routes have few plugins, and every await costs.
    if (route.chain.rewrite.length > 0 && (await runPhase('rewrite', route.chain.rewrite, ctx))) return;
    if (state.consumer) {
      chains.route = route.chainFor(state.consumer);
      // Plugins merged in from the consumer missed the rewrite phase above (APISIX's rewrite_in_consumer).
      if (chains.route !== route.chain && (await runPhase('rewrite', chains.route.rewrite, ctx, isFromConsumer))) return;
    }
    if (await this.runAccess(ctx, state, chains)) return;

    continueUpload(ctx, state);
    const content = chains.route.content;
    if (content) {
      await content.plugin.content!(ctx, content.conf, content.instance);
      return;
    }
    // A plugin may have chosen another upstream for this request (traffic-split).
    const upstream = state.upstream.target ?? route.upstream;
    if (!upstream) throw CORE_ERRORS.GW_NO_UPSTREAM.error();
    const bodyFilters = bodyFiltersOf(chains);
    await proxyRequest(ctx, state, {
      upstream,
      timeout: route.timeout,
      websocket: route.websocket,
      maxBodyBytes: limit,
      bodyIdleMs: this.options.config.timeouts.request_body_idle * 1000,
      // Without header filters the response head goes out synchronously, without a pause.
      beforeHeaders: chains.global.headerFilter.length + chains.route.headerFilter.length > 0 ? () => state.commitHeaders() : undefined,
      filterBody: bodyFilters.length > 0 ? (chunk, eof) => runBodyFilters(bodyFilters, ctx, chunk, eof) : undefined,
    });
  }

  /**
   * The access phase (global rules, then the route). For a JSON-RPC batch it runs once per
   * message, with `mcp` describing that message: a tools/call inside a batch meets the same
   * limits and access rules as one sent alone. Returns true when a plugin answered.
   */
  private async runAccess(ctx: GatewayContext, state: RequestState, chains: Chains): Promise<boolean> {
    const batch = state.mcp?.kind === 'batch' ? state.mcp : undefined;
    if (!batch) return runAccessPhases(ctx, chains);
    try {
      for (const message of batch.batch!) {
        state.mcp = message;
        if (await runAccessPhases(ctx, chains)) return true;
      }
      return false;
    } finally {
      state.mcp = batch;
    }
  }

  private async describeMcp(ctx: GatewayContext, state: RequestState, jsonRpc: NonNullable<RequestOptions['jsonRpc']>, limit: number): Promise<void> {
    const transport = mcpTransportOf(state.path, jsonRpc.basePath);
    if (!transport) {
      // What another route's vars made of it before matching does not describe this route's endpoints.
      state.mcp = undefined;
      return;
    }
    if (ctx.req.method === 'POST' && !state.bodyRead) await this.readRequestBody(ctx, state, limit);
    state.mcp = this.describeMcpRequest(ctx, state, transport, jsonRpc.maxBatchMessages);
  }

  private describeMcpRequest(ctx: GatewayContext, state: RequestState, transport: McpTransport, maxBatchMessages?: number): McpRequestInfo {
    const sessionHeader = ctx.req.headers['mcp-session-id'];
    const sessionId = typeof sessionHeader === 'string' ? sessionHeader : (state.var('arg_sessionId') ?? undefined);
    if (ctx.req.method !== 'POST') return describeMcpMessage(transport, sessionId, undefined);
    return carriesJsonRpc(ctx.req, transport)
      ? describeMcpMessage(transport, sessionId, state.body, maxBatchMessages)
      : describeNoMessage(transport, sessionId);
  }

  private async finishLocalReply(ctx: GatewayContext, state: RequestState, chains: Chains): Promise<void> {
    await state.commitHeaders();
    filterLocalBody(ctx, chains);
  }

  private async replyWithError(ctx: GatewayContext, state: RequestState, err: unknown, chains?: Chains): Promise<void> {
    const error = isGatewayError(err) ? err : CORE_ERRORS.GW_INTERNAL.error({ cause: err });
    state.error = error;
    if (state.mcp) state.mcpError ??= jsonRpcErrorCode(error.body);
    // Logged whoever renders it: a content plugin answering in its protocol does not hide the cause.
    this.logFailure(state, error, isGatewayError(err));
    const content = chains?.route.content;
    if (isGatewayError(err) && content?.plugin.renderError && ctx.respond !== false && !ctx.res.headersSent) {
      try {
        if (await content.plugin.renderError(ctx, content.conf, content.instance, err)) {
          if (!ctx.req.complete) lingerThenClose(ctx.req, ctx.res);
          return;
        }
      } catch (renderErr) {
        this.options.logger.error({ requestId: state.requestId, err: renderErr }, 'renderError failed');
      }
    }
    const { res } = ctx;
    if (CORE_ERRORS.GW_CLIENT_GONE.is(error) || ctx.respond === false || res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    replyWithError(ctx, error, state.requestId);
    // An error response is still a response: header and body filters run (their own errors are ignored).
    try {
      await state.commitHeaders();
      if (chains) filterLocalBody(ctx, chains);
    } catch {
      /* already answering with an error */
    }
    if (!ctx.req.complete) lingerThenClose(ctx.req, res);
  }

  /**
   * A 5xx is logged by what it means: a bug (not a GatewayError) is an error, a failure with a
   * cause (an upstream, a store) a warning, and a deliberate answer without a cause (a rate limit,
   * an open breaker) only at debug. Repeats are throttled per code so an outage cannot flood the log.
   */
  private logFailure(state: RequestState, error: GatewayError, deliberate: boolean): void {
    if (error.status < 500 || CORE_ERRORS.GW_CLIENT_GONE.is(error)) return;
    const level = !deliberate ? 'error' : error.cause !== undefined ? 'warn' : 'debug';
    if (!this.options.logger.isLevelEnabled(level)) return;
    const { ok, suppressed } = this.logThrottle.take(error.code);
    if (!ok) return;
    this.options.logger[level](
      { requestId: state.requestId, route: state.route?.id, code: error.code, err: error.cause ?? error, ...(suppressed > 0 ? { suppressed } : {}) },
      'request failed',
    );
  }

  /** The log phase: after the response is done or the client left; never reaches the client. */
  private finish(ctx: GatewayContext, state: RequestState, chains: Chains): void {
    // In a 'close' listener: a throw here would end the process.
    try {
      if (!ctx.res.writableFinished) state.abort(new Error('client went away'));
      state.finished = true;
      measureBytes(ctx.req.socket, state);
      if (chains.global.log.length > 0) this.runLogPhase(chains.global.log, ctx, state);
      if (chains.route.log.length > 0) this.runLogPhase(chains.route.log, ctx, state);
      this.options.onRequestDone?.(ctx, state);
    } catch (err) {
      this.options.logger.error({ requestId: state.requestId, err }, 'request bookkeeping failed');
    }
  }

  private runLogPhase(entries: Chain['log'], ctx: GatewayContext, state: RequestState): void {
    for (const entry of entries) {
      try {
        const result = entry.plugin.log!(ctx, entry.conf, entry.instance);
        if (result && typeof (result as Promise<void>).then === 'function') {
          (result as Promise<void>).catch((err) => this.logPhaseFailed(state, entry.plugin.name, err));
        }
      } catch (err) {
        this.logPhaseFailed(state, entry.plugin.name, err);
      }
    }
  }

  private logPhaseFailed(state: RequestState, plugin: string, err: unknown): void {
    this.options.logger.error({ requestId: state.requestId, plugin, err }, 'log phase failed');
  }
}

/** A local reply's body (a string, a buffer, JSON) through the body filters, whole, as one chunk with `eof`. */
function filterLocalBody(ctx: GatewayContext, chains: Chains): void {
  const filters = bodyFiltersOf(chains);
  if (filters.length === 0 || ctx.body === undefined || ctx.body === null) return;
  const body = ctx.body;
  if (typeof body === 'string' || Buffer.isBuffer(body) || (typeof body === 'object' && typeof (body as { pipe?: unknown }).pipe !== 'function')) {
    const buffer = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const type = ctx.type;
    ctx.body = runBodyFilters(filters, ctx, buffer, true);
    if (type) ctx.type = type;
  }
}

/**
 * Tells a client that sent `Expect: 100-continue` to send its body (RFC 9110 §10.1.1), once, when
 * the gateway is about to read it.
 */
function continueUpload(ctx: GatewayContext, state: RequestState): void {
  if (!state.awaitingContinue) return;
  state.awaitingContinue = false;
  if (!ctx.res.headersSent) ctx.res.writeContinue();
}

async function runAccessPhases(ctx: GatewayContext, chains: Chains): Promise<boolean> {
  if (chains.global.access.length > 0 && (await runPhase('access', chains.global.access, ctx))) return true;
  return chains.route.access.length > 0 && (await runPhase('access', chains.route.access, ctx));
}

type McpTransport = McpRequestInfo['transport'];

/** Whether a POST's body is read as JSON-RPC: a JSON type, or anything on the legacy SSE message endpoint. */
function carriesJsonRpc(req: IncomingMessage, transport: McpTransport): boolean {
  return transport === 'sse' || (req.headers['content-type'] ?? '').includes('json');
}

/** Connection byte counters already attributed to earlier requests on the same socket. */
const countedBytes = new WeakMap<Socket, { read: number; written: number }>();

/**
 * This request's bytes in and out, from the connection's counters: what they grew by since the
 * previous request on the same keep-alive connection finished (nginx's $request_length and
 * $bytes_sent, headers included). Pipelined requests share their bytes with their neighbours.
 */
function measureBytes(socket: Socket | null, state: RequestState): void {
  if (!socket) return;
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  const previous = countedBytes.get(socket);
  state.bytesIn = read - (previous?.read ?? 0);
  state.bytesOut = written - (previous?.written ?? 0);
  if (previous) {
    previous.read = read;
    previous.written = written;
  } else {
    countedBytes.set(socket, { read, written });
  }
}

/** The code of a JSON-RPC error body (mcp-bridge's HTTP errors carry one), if `body` is one. */
function jsonRpcErrorCode(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { jsonrpc?: unknown; error?: { code?: unknown } }).error;
  return (body as { jsonrpc?: unknown }).jsonrpc === '2.0' && typeof error?.code === 'number' ? error.code : undefined;
}

function isFromConsumer(entry: { fromConsumer?: boolean }): boolean {
  return entry.fromConsumer === true;
}

function bodyFiltersOf(chains: Chains): Chain['bodyFilter'] {
  if (chains.global.bodyFilter.length === 0) return chains.route.bodyFilter;
  return [...chains.global.bodyFilter, ...chains.route.bodyFilter];
}

/**
 * After answering a request whose body we did not read (413, 408, 504), tell the client the
 * connection ends, but keep reading and discarding what it is still sending for a moment before
 * closing: closing a socket with unread data makes the kernel send a reset, and the client may
 * lose our answer with it (nginx's lingering close). Node closes a `Connection: close` response's
 * socket through `destroySoon()`; for this socket it becomes end-then-linger.
 */
function lingerThenClose(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('connection', 'close');
  const socket = req.socket as Socket & { destroySoon?: () => void };
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    socket.once('end', () => {
      clearTimeout(timer);
      socket.destroy();
    });
    req.resume();
    socket.resume();
  };
}

/** Malformed requests (framing, oversized headers) are answered by the parser's error path. */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const code = PARSER_ERRORS[err.code ?? ''] ?? CORE_ERRORS.GW_BAD_REQUEST;
  // Before Node made a request of it there is no response object: the same answer, written by hand.
  const body = JSON.stringify(errorBody(code.error(), randomUUID()));
  // end() alone would only half-close: a client that keeps sending would keep the socket.
  socket.end(
    `HTTP/1.1 ${code.status} ${STATUS_CODES[code.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/**
 * The response of a request Node handed over as an upgrade: bound to its socket by hand, as Node
 * binds others, and closing the connection once written (the socket is no longer Node's to keep
 * alive). Bytes that came after the request head (a client's first WebSocket frames) are put back
 * for the tunnel to carry.
 */
function upgradeResponse(req: IncomingMessage, socket: Socket, head: Buffer): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  if (head.length > 0) socket.unshift(head);
  // Nothing listens on the socket any more: an error with no listener would end the process.
  socket.on('error', () => socket.destroy());
  res.once('finish', () => socket.end());
  return res;
}

/** What Node's parser refused, by its error code; anything else is a 400. */
const PARSER_ERRORS: Readonly<Record<string, ErrorCode>> = {
  HPE_HEADER_OVERFLOW: CORE_ERRORS.GW_HEADERS_TOO_LARGE,
  ERR_HTTP_REQUEST_TIMEOUT: CORE_ERRORS.GW_HEADERS_TIMEOUT,
};

/** The path of a request target that could not be normalized, for the access log. */
function rawPathOf(url: string | undefined): string {
  const target = url ?? '/';
  const mark = target.indexOf('?');
  return mark < 0 ? target : target.slice(0, mark);
}
