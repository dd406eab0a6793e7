/**
 * The default content phase: forward the request to an upstream node with undici and stream the
 * response back, with backpressure both ways. Failures before the response head map to 502/504
 * (and connection failures retry the next node while the request body is untouched); failures
 * after it end the client's response. A client that leaves aborts the upstream request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { GatewayContext } from '../context.js';
import { CORE_ERRORS, clientGone, GatewayError } from '../errors.js';
import { ownValue } from '../own.js';
import type { RequestState } from '../request.js';
import type { UpstreamNode } from './balancer.js';
import { requestBody } from './request-body.js';
import type { Upstream, UpstreamTimeouts } from './upstream.js';

/**
 * Never forwarded in either direction: RFC 9110 §7.6.1 connection-specific fields, and Expect,
 * which the gateway answers itself (the data plane sends `100 Continue` when it starts reading
 * the body; undici refuses to send the header at all).
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);
/** Set by the gateway itself; a client's values are dropped. */
const GATEWAY_SET = new Set(['host', 'x-real-ip', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-for']);

const RETRYABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

export interface ProxyOptions {
  upstream: Upstream;
  /** The route proxies WebSocket upgrades (enable_websocket): such a request becomes a tunnel. */
  websocket?: boolean;
  /** The route's own timeouts override the upstream's. */
  timeout?: UpstreamTimeouts;
  maxBodyBytes: number;
  /** Longest pause in the client's upload while the gateway waits for it (408). */
  bodyIdleMs: number;
  /** Runs the header filters once, right before the response head is written (absent: none to run). */
  beforeHeaders?(): Promise<void>;
  /** Body filters (identity when the route has none). */
  filterBody?(chunk: Buffer, eof: boolean): Buffer;
}

export async function proxyRequest(ctx: GatewayContext, state: RequestState, options: ProxyOptions): Promise<void> {
  const { upstream } = options;
  const timeout = options.timeout ?? upstream.timeout;
  // A body already read (a route's vars read it) goes as that copy; otherwise it streams through.
  const body = state.bodyRead
    ? state.body?.length ? state.body : undefined
    : requestBody(ctx.req, { maxBodyBytes: options.maxBodyBytes, sendTimeoutMs: timeout.send * 1000, idleTimeoutMs: options.bodyIdleMs });
  const started = Date.now();
  const tried = new Set<UpstreamNode>();
  const hashKey = upstream.definition.type === 'chash' ? chashKey(ctx, state, upstream) : undefined;
  let lastError: unknown;

  // Until this request ends, its upstream keeps its connections even if an edit replaces it.
  upstream.begin();
  try {
    for (let attempt = 0; attempt <= upstream.retries; attempt++) {
      const node = upstream.balancer.pick(tried, hashKey);
      if (!node) break;
      tried.add(node);
      upstream.balancer.started(node);
      try {
        await forward(ctx, state, options, node, timeout, body);
        return;
      } catch (err) {
        lastError = err;
        const code = (err as { code?: string }).code ?? '';
        const retryable =
          RETRYABLE.has(code) &&
          !(err as { responseStarted?: boolean }).responseStarted &&
          (body === undefined || Buffer.isBuffer(body) || !body.readableDidRead) &&
          (upstream.retryTimeoutMs === 0 || Date.now() - started < upstream.retryTimeoutMs);
        if (!retryable) break;
      } finally {
        upstream.balancer.finished(node);
      }
    }
  } finally {
    upstream.end();
  }
  if (lastError === undefined) {
    throw CORE_ERRORS.GW_UPSTREAM_NO_NODE.error();
  }
  throw toGatewayError(lastError);
}

function forward(
  ctx: GatewayContext,
  state: RequestState,
  options: ProxyOptions,
  node: UpstreamNode,
  timeout: UpstreamTimeouts,
  body: Readable | Buffer | undefined,
): Promise<void> {
  const stream = Buffer.isBuffer(body) ? undefined : body;
  const { req, res } = ctx;
  const dispatcher = options.upstream.dispatcher(node, timeout);
  const outcome = (state.upstreamOutcome = { addr: node.address, status: undefined as number | undefined, latency: undefined as number | undefined, bytes: 0 });
  const sentAt = performance.now();

  return new Promise<void>((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let headWritten = false;
    let settled = false;
    let early: Buffer[] | undefined;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      state.onClientGone = undefined;
      stream?.off('error', fail);
      if (err) reject(err);
      else resolve();
    };
    // Until undici starts the request (it may be waiting for a connection) there is nothing to
    // abort: the request ends here, and undici's turn is cancelled when it comes (onRequestStart).
    const fail = (err: Error) => (controller ? controller.abort(err) : settle(err));
    // Called by the core when the client leaves before its response is complete.
    state.onClientGone = () => fail(clientGone());
    stream?.on('error', fail);
    const write = (chunk: Buffer) => {
      const out = options.filterBody ? options.filterBody(chunk, false) : chunk;
      if (out.length > 0 && !res.write(out) && controller && !controller.paused) {
        const paused = controller;
        paused.pause();
        res.once('drain', () => paused.resume());
      }
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (settled || res.destroyed) c.abort(clientGone());
      },
      onResponseStart(c, statusCode, headers) {
        if (statusCode < 200) return;
        outcome.status = statusCode;
        outcome.latency = performance.now() - sentAt;
        // Straight onto the response: Koa's status setter does checks a proxied status does not need.
        res.statusCode = statusCode;
        copyResponseHeaders(headers, res);
        // Body filters may change the length: the response goes out chunked instead.
        if (options.filterBody) res.removeHeader('content-length');
        if (!options.beforeHeaders) {
          ctx.respond = false;
          headWritten = true;
          if (req.method === 'HEAD') res.flushHeaders();
          return;
        }
        c.pause();
        early = [];
        options
          .beforeHeaders()
          .then(() => {
            if (settled) return;
            ctx.respond = false;
            headWritten = true;
            if (req.method === 'HEAD') res.flushHeaders();
            const pending = early ?? [];
            early = undefined;
            for (const chunk of pending) write(chunk);
            c.resume();
          })
          .catch((err) => {
            // A header filter failed, not the upstream: a 500 that api-breaker and health checks
            // do not count against the node (a 502 would).
            c.abort(err instanceof GatewayError ? err : CORE_ERRORS.GW_INTERNAL.error({ cause: err }));
          });
      },
      onResponseData(_c, chunk) {
        outcome.bytes += chunk.length;
        if (early) early.push(chunk);
        else write(chunk);
      },
      onResponseEnd() {
        if (options.filterBody) {
          const tail = options.filterBody(Buffer.alloc(0), true);
          if (tail.length > 0) res.write(tail);
        }
        res.end();
        settle();
      },
      onResponseError(_c, err) {
        if (headWritten) {
          // The head is out: the only honest signal left is to cut the response short.
          res.destroy(err);
          settle();
          return;
        }
        settle(Object.assign(err, { responseStarted: outcome.status !== undefined }));
      },
    };

    const upgrade = options.websocket && wantsWebSocket(req) ? 'websocket' : undefined;
    if (upgrade) {
      handler.onRequestUpgrade = (_c, statusCode, headers, upstreamSocket) => {
        outcome.status = statusCode;
        outcome.latency = performance.now() - sentAt;
        ctx.respond = false;
        headWritten = true;
        res.statusCode = statusCode;
        tunnel(req.socket, upstreamSocket as Socket, statusCode, headers);
        settle();
      };
    }

    if (stream?.errored) {
      settle(stream.errored);
      return;
    }
    try {
      dispatcher.dispatch(
        {
          method: (state.upstream.method ?? req.method) as Dispatcher.HttpMethod,
          path: state.upstream.uri,
          headers: upstreamHeaders(ctx, state, options.upstream, node),
          body: upgrade ? null : (body ?? null),
          upgrade,
          headersTimeout: Math.round(timeout.read * 1000),
          bodyTimeout: Math.round(timeout.read * 1000),
        },
        handler,
      );
    } catch (err) {
      settle(err);
    }
  });
}

function upstreamHeaders(ctx: GatewayContext, state: RequestState, upstream: Upstream, node: UpstreamNode): string[] {
  const { req } = ctx;
  const raw = req.rawHeaders;
  const edits = state.upstream.headerEdits;
  const connectionListed = connectionTokens(req.headers.connection);
  const out: string[] = [];
  // What the upstream is told about the original request: the gateway's view, but a trusted
  // proxy's own values are kept (APISIX's trusted_addresses); null when a plugin removed it.
  let forwardedFor: string | null | undefined;
  let forwardedProto: string | null = state.scheme;
  let forwardedHost: string | null = state.host;
  let forwardedPort: string | null = String(state.serverPort);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || (connectionListed && connectionListed.has(name))) continue;
    // Identity headers are the gateway's to set (auth plugins do, through the plan): a client
    // cannot assert who it is, on any route (faults-checklist B-07).
    if (name.startsWith('x-consumer-') || name === 'x-credential-identifier') continue;
    if (GATEWAY_SET.has(name)) {
      if (name === 'x-forwarded-for') forwardedFor = forwardedFor ? `${forwardedFor}, ${raw[i + 1]}` : raw[i + 1];
      else if (state.peerTrusted && raw[i + 1] !== '') {
        if (name === 'x-forwarded-proto') forwardedProto = raw[i + 1];
        else if (name === 'x-forwarded-host') forwardedHost = raw[i + 1];
        else if (name === 'x-forwarded-port') forwardedPort = raw[i + 1];
      }
      continue;
    }
    if (edits !== undefined && edits.has(name)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  const host =
    state.upstream.host ??
    (upstream.passHost === 'node' ? node.address : upstream.passHost === 'rewrite' ? (upstream.upstreamHost ?? node.address) : (state.authority ?? req.headers.host ?? node.address));
  out.push('host', host, 'x-real-ip', state.clientIp);
  if (edits !== undefined) {
    for (const [name, value] of edits) {
      if (value !== null && !GATEWAY_SET.has(name) && !HOP_BY_HOP.has(name)) out.push(name, value);
    }
    // A route may say what the upstream is told about the original request (APISIX lets
    // proxy-rewrite set or remove X-Forwarded-*); Host and X-Real-IP stay the gateway's.
    if (edits.has('x-forwarded-for')) forwardedFor = edits.get('x-forwarded-for');
    if (edits.has('x-forwarded-proto')) forwardedProto = edits.get('x-forwarded-proto') ?? null;
    if (edits.has('x-forwarded-host')) forwardedHost = edits.get('x-forwarded-host') ?? null;
    if (edits.has('x-forwarded-port')) forwardedPort = edits.get('x-forwarded-port') ?? null;
  }
  // The client's address is always the last hop of X-Forwarded-For, whatever a plugin set.
  out.push('x-forwarded-for', forwardedFor ? `${forwardedFor}, ${state.clientIp}` : state.clientIp);
  if (forwardedProto !== null) out.push('x-forwarded-proto', forwardedProto);
  if (forwardedHost !== null) out.push('x-forwarded-host', forwardedHost);
  if (forwardedPort !== null) out.push('x-forwarded-port', forwardedPort);
  return out;
}

/** A WebSocket handshake (RFC 6455 §4.1): Node set `upgrade` for it, and it names websocket. */
function wantsWebSocket(req: GatewayContext['req']): boolean {
  const asked = req.headers.upgrade;
  return (req as { upgrade?: boolean }).upgrade === true && req.method === 'GET' && typeof asked === 'string' && asked.toLowerCase() === 'websocket';
}

/**
 * The upstream switched protocols: its 101 goes to the client as it came, then bytes flow both
 * ways untouched until either side ends or fails, which ends the tunnel once what that side sent
 * has been passed on (WebSocket closes by its own handshake; a half-open tunnel would hold both
 * sockets, and the request, forever). Header and body filters do not apply to what follows.
 */
function tunnel(client: Socket, upstream: Socket, statusCode: number, headers: IncomingHttpHeaders): void {
  let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) head += `${name}: ${one}\r\n`;
  }
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.once('close', close);
  upstream.once('close', close);
  client.once('end', () => upstream.end(close));
  upstream.once('end', () => client.end(close));
  if (client.destroyed) {
    close();
    return;
  }
  client.write(`${head}\r\n`);
  upstream.pipe(client, { end: false });
  client.pipe(upstream, { end: false });
}

function connectionTokens(header: string | undefined): Set<string> | undefined {
  if (!header) return undefined;
  // Nearly every request and response says just one of these, which names no other header.
  if (header.length <= 10) {
    const lower = header.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return undefined;
  }
  const tokens = header.toLowerCase().split(',').map((t) => t.trim()).filter((t) => t && t !== 'close' && t !== 'keep-alive');
  return tokens.length ? new Set(tokens) : undefined;
}

function copyResponseHeaders(headers: IncomingHttpHeaders, res: GatewayContext['res']): void {
  const listed = connectionTokens(headers.connection as string | undefined);
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (listed && listed.has(name))) continue;
    const value = headers[name];
    if (value !== undefined) res.setHeader(name, value);
  }
}

function chashKey(ctx: GatewayContext, state: RequestState, upstream: Upstream): string {
  const key = upstream.hashKey ?? 'remote_addr';
  let value: string | undefined;
  switch (upstream.hashOn) {
    case 'header': {
      const h = ownValue(ctx.req.headers, key.toLowerCase()) as string | string[] | undefined;
      value = Array.isArray(h) ? h[0] : h;
      break;
    }
    case 'cookie':
      value = state.var(`cookie_${key}`);
      break;
    case 'consumer':
      value = state.consumer?.username;
      break;
    case 'vars_combinations':
      // As APISIX's chash: a combination in which no variable resolved falls back like an empty key.
      value = upstream.hashTemplate?.renderIfResolved(state);
      break;
    default:
      value = state.var(key);
  }
  // APISIX falls back to the client address when the key is empty.
  return value || state.clientIp;
}

function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return CORE_ERRORS.GW_UPSTREAM_CONNECT_TIMEOUT.error({ cause: err });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return CORE_ERRORS.GW_UPSTREAM_TIMEOUT.error({ cause: err });
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'ECONNABORTED') {
    return CORE_ERRORS.GW_BAD_REQUEST_BODY.error({ cause: err });
  }
  // undici refused the request before sending anything: the request's fault, never the
  // upstream's (a 502 here would count against the upstream in api-breaker).
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
    return CORE_ERRORS.GW_REQUEST_NOT_FORWARDABLE.error({ message: `request cannot be forwarded: ${(err as Error).message}`, cause: err });
  }
  return CORE_ERRORS.GW_UPSTREAM_UNAVAILABLE.error({ cause: err });
}
