/**
 * Requests for a session another process owns, relayed to it (issue 15). An MCP session lives in
 * one worker of one instance (its child process or remote session, its streams); its id names
 * that process (session-ids.ts). A request naming it — Streamable HTTP POST, GET (resumption with
 * Last-Event-ID included) and DELETE by the `Mcp-Session-Id` header, a legacy `POST /message` by
 * `?sessionId=` — that reaches any other worker or instance is passed on, as it came, to the
 * owner's relay listener, and the owner's answer streams back (SSE included). Nothing is asked of
 * the load balancer.
 *
 * The owner runs the whole pipeline for a relayed request, exactly as if the client had
 * connected to it: authentication, limits, MCP access rules and logs run once, on the owner, and a
 * session stays bound to the consumer that opened it. The relaying process only forwards bytes.
 * So that the owner sees the client, the relaying process sends the connection's addresses
 * (client and local) in a signed header, and the owner's relay listener presents them to the
 * pipeline as its socket's.
 *
 * A relay listener takes only requests signed with the deployment's relay secret (HMAC-SHA256
 * over a timestamp, the method, the target and those addresses; 60 s validity): anything else is
 * 403, and a relayed request is never relayed again. The relay headers a client sends on the
 * public listener are dropped before anything reads them.
 *
 * When the owner cannot be reached (its process died, its registration expired), the request is
 * answered 404 GW_SESSION_OWNER_GONE: for MCP clients, "initialize a new session".
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';
import { formatListen, type ListenAddress } from '../config.js';
import { CORE_ERRORS, errorBody } from '../errors.js';
import { closeNow } from '../listen.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import { HOP_BY_HOP } from '../upstream/proxy.js';
import type { RelayAddress, RelayDirectory } from './directory.js';
import { ownerTokenOf } from './session-ids.js';

const SIGNATURE_HEADER = 'x-tollgate-relay';
const PEER_HEADER = 'x-tollgate-relay-peer';
/** The Host the client sent (undici sets Host to the owner's address). */
const HOST_HEADER = 'x-tollgate-relay-host';
const SESSION_HEADER = 'mcp-session-id';
const SIGNATURE_VALIDITY_MS = 60_000;
/** Request bodies up to this size are read before relaying (sent in one write with the headers); larger ones stream. */
const SMALL_BODY_BYTES = 65536;

/** Paths of questions between gateway processes, on the relay listener (signed like relayed requests). */
const INTERNAL_PREFIX = '/.tollgate/';

/** Answers another gateway process's question: `path` is below /.tollgate/, with its query. */
export type InternalHandler = (method: string, path: string) => Promise<{ status: number; body: unknown }> | { status: number; body: unknown };

export interface PeerAnswer {
  token: string;
  address: RelayAddress;
  status?: number;
  body?: unknown;
  /** It could not be asked (gone meanwhile, unreachable, no answer in time). */
  error?: string;
}

export interface RelayOptions {
  secret: string;
  directory: RelayDirectory;
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Milliseconds to connect to an owner before it counts as gone. */
  connectTimeoutMs: number;
  /** Connections to one owner at most (relay.max_connections); relayed requests beyond them queue. */
  maxConnectionsPerOwner: number;
  /** The data plane's header limit (limits.max_header_bytes): a request it took must fit the relay listener too. */
  maxHeaderBytes: number;
}

/** The connection facts the owner presents to its pipeline as the socket's. */
interface Peer {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
}

export class Relay {
  private readonly pools = new Map<string, Pool>();
  private readonly secret: Buffer;
  private server?: Server;
  private inFlight = 0;

  constructor(private readonly options: RelayOptions) {
    this.secret = Buffer.from(options.secret);
  }

  /**
   * Takes the request when it names a session another process owns: relays it (true), or serves
   * it here through `local` once the owner turns out to be unknown (a Redis lookup). False: not
   * a session of another process, the caller serves it.
   */
  intercept(req: IncomingMessage, res: ServerResponse, local: () => void): boolean {
    // A client must not choose what a relay listener would believe.
    if (req.headers[SIGNATURE_HEADER] !== undefined || req.headers[PEER_HEADER] !== undefined || req.headers[HOST_HEADER] !== undefined) {
      delete req.headers[SIGNATURE_HEADER];
      delete req.headers[PEER_HEADER];
      delete req.headers[HOST_HEADER];
    }
    const id = sessionIdOf(req);
    const token = id === undefined ? undefined : ownerTokenOf(id);
    if (token === undefined) return false;
    const owner = this.options.directory.resolve(token);
    if (owner === undefined) return false;
    if (!(owner instanceof Promise)) {
      this.forward(req, res, token, owner);
      return true;
    }
    owner.then((address) => {
      if (address) this.forward(req, res, token, address);
      else local();
    }, local);
    return true;
  }

  /**
   * The relay listener: only signed requests, each handed to `accept` (the data plane) with the
   * client's connection facts in place of the relaying gateway's.
   */
  async listen(address: ListenAddress, accept: (req: IncomingMessage, res: ServerResponse) => void, internal?: InternalHandler): Promise<ListenAddress> {
    // Room for the relay's own headers on top of what the data plane accepted.
    const server = createServer({ requestTimeout: 0, keepAliveTimeout: 30_000, maxHeaderSize: this.options.maxHeaderBytes + 4096 }, (req, res) => {
      const peer = this.verify(req);
      if (!peer) {
        const body = JSON.stringify(errorBody(CORE_ERRORS.GW_RELAY_FORBIDDEN.error(), ''));
        res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
        res.end(body);
        return;
      }
      if (req.url?.startsWith(INTERNAL_PREFIX)) {
        // Another gateway process asking this one (an Admin API call with ?scope=cluster).
        const send = (status: number, body: unknown) => {
          const text = JSON.stringify(body);
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        };
        Promise.resolve()
          .then(() => (internal ? internal(req.method ?? 'GET', req.url!.slice(INTERNAL_PREFIX.length)) : { status: 404, body: { error_msg: 'not found' } }))
          .then((answer) => send(answer.status, answer.body), (err: Error) => send(500, { error_msg: err.message }));
        return;
      }
      this.options.metrics?.relayRequests.inc({ outcome: 'received' });
      presentPeer(req.socket, peer);
      accept(req, res);
    });
    server.on('clientError', (_err, socket: Socket) => socket.destroy());
    this.server = server;
    // exclusive: in a cluster worker, a port of its own, not one node:cluster shares between workers.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.options.logger.error({ err }, 'relay listener error'));
    const bound = server.address();
    return { host: address.host, port: typeof bound === 'object' && bound ? bound.port : address.port };
  }

  /**
   * Asks every other gateway process (this node's workers, every registered instance) the same
   * internal question; each answers for itself. Unreachable ones are listed with the error.
   */
  async askOthers(method: 'GET' | 'DELETE', path: string, timeoutMs = 3000): Promise<PeerAnswer[]> {
    const others = await this.options.directory.others();
    return Promise.all(
      others.map(async ({ token, address }): Promise<PeerAnswer> => {
        const target = `${INTERNAL_PREFIX}${path}`;
        const peerHeader = Buffer.from('{}').toString('base64url');
        try {
          const answer = await this.pool(address).request({
            method,
            path: target,
            headers: { [PEER_HEADER]: peerHeader, [SIGNATURE_HEADER]: this.sign(method, target, peerHeader, Date.now()) },
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
          });
          const text = await answer.body.text();
          return { token, address, status: answer.statusCode, body: text ? (JSON.parse(text) as unknown) : undefined };
        } catch (err) {
          return { token, address, error: (err as Error).message };
        }
      }),
    );
  }

  /** Relayed requests still in flight from here (a drain waits for them). */
  get active(): number {
    return this.inFlight;
  }

  async close(): Promise<void> {
    if (this.server) await closeNow(this.server);
    await Promise.all([...this.pools.values()].map((pool) => pool.destroy().catch(() => undefined)));
    this.pools.clear();
  }

  private forward(req: IncomingMessage, res: ServerResponse, token: string, owner: RelayAddress): void {
    const { metrics, logger, directory } = this.options;
    this.inFlight += 1;
    const controller = new AbortController();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.inFlight -= 1;
    };
    res.once('close', () => {
      finish();
      // The client left (or the answer is complete): nothing more is wanted from the owner.
      if (!res.writableFinished) controller.abort();
    });
    req.on('error', () => controller.abort());
    const peer: Peer = {
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      localAddress: req.socket.localAddress,
      localPort: req.socket.localPort,
    };
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'host') headers[name] = value;
    // The authority the client used, for the owner's routing (undici sets Host to the owner's address).
    if (req.headers.host !== undefined) headers[HOST_HEADER] = req.headers.host;
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const peerHeader = Buffer.from(JSON.stringify(peer)).toString('base64url');
    headers[PEER_HEADER] = peerHeader;
    headers[SIGNATURE_HEADER] = this.sign(method, target, peerHeader, Date.now());
    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const length = Number(req.headers['content-length']);
    // A small body (an MCP message) is read first and sent with the headers in one write: on a
    // busy machine each socket write costs tens of µs, and streaming would add a write or two.
    const body = !hasBody ? Promise.resolve(undefined) : length <= SMALL_BODY_BYTES ? readSmall(req, length) : Promise.resolve(req);
    body
      .then((payload) => this.pool(owner).request({ method: method as 'GET', path: target, headers, body: payload, signal: controller.signal }))
      .then(
        (answer) => {
          metrics?.relayRequests.inc({ outcome: 'relayed' });
          const out: Record<string, string | string[]> = {};
          for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
          res.writeHead(answer.statusCode, out);
          // An SSE stream's headers go now, not with its first event (others go with their body).
          if (String(answer.headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
          pipeline(answer.body, res, (err) => {
            if (err && !res.writableFinished) res.destroy();
          });
        },
        (err: NodeJS.ErrnoException & { code?: string }) => {
          if (res.destroyed || controller.signal.aborted) return;
          if (!res.headersSent && isOwnerUnreachable(err)) {
            directory.forget(token);
            this.dropPool(owner);
            metrics?.relayRequests.inc({ outcome: 'owner_gone' });
            const body = JSON.stringify(errorBody(CORE_ERRORS.GW_SESSION_OWNER_GONE.error(), ''));
            res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
            res.end(body);
            return;
          }
          metrics?.relayRequests.inc({ outcome: 'failed' });
          logger.warn({ err: err.message, code: err.code }, 'relay: the session owner failed mid-request');
          if (res.headersSent) res.destroy();
          else {
            const body = JSON.stringify(errorBody(CORE_ERRORS.GW_UPSTREAM_UNAVAILABLE.error(), ''));
            res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
            res.end(body);
          }
        },
      );
  }

  /** An owner that is gone: its connections go too (a replacement may get another port). */
  private dropPool(owner: RelayAddress): void {
    const key = `${owner.host}:${owner.port}`;
    const pool = this.pools.get(key);
    if (!pool) return;
    this.pools.delete(key);
    pool.destroy().catch(() => undefined);
  }

  private pool(owner: RelayAddress): Pool {
    const key = `${owner.host}:${owner.port}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(`http://${formatListen(owner)}`, {
        connections: this.options.maxConnectionsPerOwner,
        connect: { timeout: this.options.connectTimeoutMs },
        // A tools/call may run for minutes and an SSE stream stays quiet between events: the
        // owner's own limits bound them, and the client's leaving aborts the relay.
        headersTimeout: 0,
        bodyTimeout: 0,
        keepAliveTimeout: 10_000,
      });
      pool.on('connectionError', () => undefined);
      this.pools.set(key, pool);
    }
    return pool;
  }

  private sign(method: string, target: string, peer: string, at: number): string {
    const mac = createHmac('sha256', this.secret).update(`${at}\n${method}\n${target}\n${peer}`).digest('base64url');
    return `${at}.${mac}`;
  }

  /** The relaying gateway's connection facts, if the request carries a valid signature. */
  private verify(req: IncomingMessage): Peer | undefined {
    const signature = req.headers[SIGNATURE_HEADER];
    const peerHeader = req.headers[PEER_HEADER];
    if (typeof signature !== 'string' || typeof peerHeader !== 'string') return undefined;
    const dot = signature.indexOf('.');
    const at = Number(signature.slice(0, dot));
    if (dot < 0 || !Number.isSafeInteger(at) || Math.abs(Date.now() - at) > SIGNATURE_VALIDITY_MS) return undefined;
    const expected = Buffer.from(this.sign(req.method ?? 'GET', req.url ?? '/', peerHeader, at));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    let peer: Peer;
    try {
      peer = JSON.parse(Buffer.from(peerHeader, 'base64url').toString('utf8')) as Peer;
    } catch {
      return undefined;
    }
    delete req.headers[SIGNATURE_HEADER];
    delete req.headers[PEER_HEADER];
    const host = req.headers[HOST_HEADER];
    delete req.headers[HOST_HEADER];
    if (typeof host === 'string') req.headers.host = host;
    else delete req.headers.host;
    return peer;
  }
}

/** A request body of a known, small length, read whole. */
function readSmall(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > length) req.destroy(new Error('request body longer than its content-length'));
      else chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(Object.assign(new Error('the client went away'), { code: 'ECONNRESET' }));
    });
  });
}

/** The session a request names: Streamable HTTP's header, or a legacy `POST /message?sessionId=`. */
function sessionIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers[SESSION_HEADER];
  if (typeof header === 'string') return header;
  const url = req.url;
  if (url === undefined) return undefined;
  const at = url.indexOf('sessionId=');
  if (at < 0) return undefined;
  const query = url.indexOf('?');
  if (query < 0 || query > at) return undefined;
  const value = new URLSearchParams(url.slice(query + 1)).get('sessionId');
  return value ?? undefined;
}

/** Connection failures (nothing was sent to the owner or it never answered): the owner is gone. */
function isOwnerUnreachable(err: { code?: string }): boolean {
  return ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(err.code ?? '');
}

/**
 * The owner's pipeline reads the client's addresses from the socket (client IP, $remote_port,
 * the DNS-rebinding guard's local address): the relay connection's socket is given the client
 * connection's facts, request by request (one request at a time per connection).
 */
function presentPeer(socket: Socket, peer: Peer): void {
  for (const [name, value] of Object.entries(peer)) {
    if (value !== undefined) Object.defineProperty(socket, name, { value, configurable: true, enumerable: true });
  }
}
