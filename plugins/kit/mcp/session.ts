/**
 * One MCP session: its backend (a child process, a remote server: backend.ts) and the streams
 * that carry the server's messages to one client.
 *
 * Messages pass through unchanged (no id rewriting: the backend is this session's alone). What the
 * server sends goes to exactly one place (never broadcast): a response to the stream of the
 * request it answers, progress to the stream of the request that holds the progress token, a
 * message the backend knows the request of (a remote server's POST stream) to that request's
 * stream, and anything else (logging, a sampling or elicitation request, cancellation) to the
 * single request in flight, else the standalone GET stream, else the oldest request in flight
 * (stdio carries no link between a server message and a client request, so this is a heuristic;
 * see issue 3 and the transports spec, "Multiple Connections").
 */
import { newSessionId } from '../../../core/relay/session-ids.js';
import type { Logger } from '../../../core/logger.js';
import type { Backend, BackendEnd, BackendEvents, BackendInfo } from './backend.js';
import { initTimeoutFailure, type Failure } from './failure.js';
import {
  CONNECTION_CLOSED,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  LIST_CHANGED,
  METHOD_NOT_FOUND,
  MISSING_REQUIRED_CLIENT_CAPABILITY,
  REQUEST_TIMEOUT,
  RETRY_AFTER_SECONDS,
  cancelledMessage,
  cancelledNotification,
  errorResponse,
  isObject,
  mcpHttpError,
  wantsPrimingEvent,
  type JsonRpcId,
} from './jsonrpc.js';
import { BatchReply } from './batch-reply.js';
import { filterListAnswer, isFilteredList, standIn, type Verdict } from './message-filters.js';
import { PendingRequest, type PendingOptions } from './pending.js';
import type { BridgeSettings } from './runtime.js';
import type { SessionConf } from './schema.js';
import type { SseConnection } from './sse.js';
import type { StartTurn } from './start-queue.js';
import { EventLog, Stream, eventId, parseEventId, type SseEvent } from './streams.js';
import { isListMethod, type ListMethod } from './server.js';
import { toolCallInfo } from './telemetry.js';
import { MCP_ERRORS } from './errors.js';

export type TransportKind = 'streamable-http' | 'sse';

export interface SessionHost {
  readonly conf: SessionConf;
  readonly settings: BridgeSettings;
  readonly logger: Logger;
  /** The session ended; `failure` says how, when its server failed. */
  closed(session: Session, reason: string, failure?: Failure): void;
  /** Its backend ended (a process exited, asked to or not). */
  backendEnded(end: BackendEnd): void;
  /** Its server answered initialize with this result. */
  initialized(result: Record<string, unknown>): void;
  /** Its server answered a list asked without a cursor (its latest tools, resources or prompts). */
  listSeen(method: ListMethod, result: Record<string, unknown>): void;
  /** Its server said a list changed. */
  listChanged(method: ListMethod): void;
  /** A tools/call settled: the status it counts as, and what its answer said. */
  toolCallDone(session: Session, pending: PendingRequest, status: number, rpcError: number | undefined, toolError: boolean): void;
}

/** One message of a JSON-RPC batch, as the core described it. */
export interface BatchMessage {
  readonly kind: 'request' | 'notification' | 'response';
  readonly message: Record<string, unknown>;
  readonly id?: JsonRpcId;
  readonly method?: string;
  /** What the message filters decided about it. */
  readonly verdict?: Verdict;
}

/** What the Admin API shows of a live session (GET /apisix/admin/mcp_servers/{id}/sessions). */
export interface SessionSummary {
  id: string;
  route: string;
  consumer: string | null;
  transport: TransportKind;
  protocol_version: string | null;
  /** ISO 8601. */
  created: string;
  last_active: string;
  /** Requests the client sent (initialize included). */
  calls: number;
  backend: BackendInfo | null;
  /** The child's process id, for a stdio server. */
  child_pid?: number;
}

/** The list each list_changed notification makes stale. */
/** The client capability each request a server may send a client needs (2025-11-25 client features). */
const CAPABILITY_OF_SERVER_REQUEST: Readonly<Record<string, string>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** Messages a legacy session holds before its stream is attached (a server that talks at once). */
const LEGACY_QUEUE_LIMIT = 256;
/** A client message the server does not take backs up (a child's stdin pipe) up to this many messages' worth. */
const STDIN_BACKLOG_MESSAGES = 4;

export class Session {
  /** This process's token and 144 random bits, base64url (core/relay/session-ids.ts): any worker or instance can tell the owner. */
  readonly id = newSessionId();
  /** Set once the session has its backend (for a child: once the start queue gave it its turn). */
  backend?: Backend;
  protocolVersion?: string;
  /** Its server has answered initialize. */
  initialized = false;
  /**
   * The gateway opened it for 2026-07-28 requests (modern.ts): several clients' requests share it,
   * so no client finds it by id, and a server message no request can be told apart for is dropped
   * rather than guessed.
   */
  pooled = false;
  /**
   * A pooled session that carries one request at a time (its client may be asked for input):
   * whatever its server sends belongs to that request, requests to the client included.
   */
  exclusive = false;
  /** The parameters of the initialize that opened it, when known before its backend starts. */
  initParams?: unknown;
  /**
   * A pooled session's `subscriptions/listen` streams (modern.ts): told of its server's list
   * changes and resource updates, which name no request.
   */
  readonly listeners = new Set<{ readonly connection: SseConnection; heard(method: string, params: Record<string, unknown>): void }>();
  /** ms since the epoch. */
  readonly created = Date.now();
  /** Requests the client sent. */
  calls = 0;
  /** When the client last did something: a message, a response delivered, a stream opened or closed. */
  lastActivity = performance.now();
  closed = false;
  /** Aborts when the session closes (a wait in the start queue gives up). */
  private readonly closing = new AbortController();
  /** Held from creation until the server has answered initialize (or failed to): never idle then. */
  private starting = true;
  private startTurn?: StartTurn;
  private startTimer?: NodeJS.Timeout;
  private readonly logger: Logger;
  private readonly pending = new Map<JsonRpcId, PendingRequest>();
  private readonly progress = new Map<string | number, PendingRequest>();
  private readonly log: EventLog;
  private readonly streams = new Map<number, Stream>();
  private readonly standalone = new Stream(0, true);
  private nextStreamId = 1;
  private legacy?: SseConnection;
  private legacyQueue: string[] = [];
  private readonly blocked = new Set<SseConnection>();
  private badLines = 0;

  constructor(
    private readonly host: SessionHost,
    readonly transport: TransportKind,
    /** The consumer that opened the session; only it may use the session. */
    readonly consumer: string | undefined,
  ) {
    this.logger = host.logger.child({ session: this.id });
    this.log = new EventLog(transport === 'streamable-http' ? host.settings.resumeBufferBytes : 0);
    this.streams.set(0, this.standalone);
  }

  /** Aborts when the session closes. */
  get closingSignal(): AbortSignal {
    return this.closing.signal;
  }

  /**
   * Opens this session's backend through `open`, on the turn the start queue gave it (children
   * start through the queue). The turn is handed back when the server has answered initialize, or
   * at the latest after `init_timeout` (a legacy client may never send initialize), or when the
   * session ends. Throws only what `open` throws at once (spawn() refusing its arguments).
   */
  connect<B extends Backend>(open: (events: BackendEvents, logger: Logger) => B, turn?: StartTurn): B {
    this.startTurn = turn;
    let backend: B;
    try {
      backend = open({ message: (text, relatedTo) => this.onMessage(text, relatedTo), ended: (end) => this.onBackendEnded(end) }, this.logger);
      this.backend = backend;
    } catch (err) {
      this.startOver();
      throw err;
    }
    this.startTimer = setTimeout(() => this.startOver(), this.host.conf.init_timeout * 1000);
    this.startTimer.unref();
    return backend;
  }

  /** The server's start is over (answered, failed, timed out): its turn goes to the next in line. */
  private startOver(): void {
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
    if (this.starting) {
      this.starting = false;
      this.touch();
    }
    this.startTurn?.release();
    this.startTurn = undefined;
  }

  // ---- client → server -------------------------------------------------------------------

  /**
   * Sends a client request to the server and tracks it until answered, timed out or cancelled;
   * `verdict` is what the message filters decided about it (message-filters.ts).
   */
  request(message: Record<string, unknown>, id: JsonRpcId, method: string, options: PendingOptions, verdict?: Verdict): PendingRequest {
    this.checkWritable();
    this.checkIds([id]);
    return this.track(message, id, method, options, undefined, verdict);
  }

  /**
   * A JSON-RPC batch (MCP 2025-03-26): every message goes to the server in order, one by one
   * (a stdio server need not read arrays). On Streamable HTTP its requests share one
   * reply; undefined when it holds none (a 202). Nothing is sent unless all of it can be.
   */
  batch(messages: readonly BatchMessage[], options: PendingOptions): BatchReply | undefined {
    this.checkWritable();
    this.checkIds(messages.flatMap((m) => (m.kind === 'request' ? [m.id!] : [])));
    const group = options.legacy ? undefined : new BatchReply();
    for (const m of messages) {
      if (m.kind === 'request') this.track(m.message, m.id!, m.method!, options, group, m.verdict);
      else this.pass(m.message);
    }
    return group && group.members.length > 0 ? group : undefined;
  }

  /** Request ids must be unique among the requests in flight (a batch's included). */
  private checkIds(ids: readonly JsonRpcId[]): void {
    const seen = new Set<JsonRpcId>();
    for (const id of ids) {
      if (this.pending.has(id) || seen.has(id)) {
        throw mcpHttpError(MCP_ERRORS.GW_MCP_DUPLICATE_ID, `request id ${JSON.stringify(id)} is already in flight in this session`, { rpcCode: INVALID_REQUEST });
      }
      seen.add(id);
    }
  }

  private track(message: Record<string, unknown>, id: JsonRpcId, method: string, options: PendingOptions, group?: BatchReply, verdict?: Verdict): PendingRequest {
    const params = message.params as { _meta?: { progressToken?: unknown } } | undefined;
    const token = params?._meta?.progressToken;
    const progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
    const pending = new PendingRequest(id, method, progressToken, options);
    if (group) {
      pending.group = group;
      group.add(pending);
    }
    if (method === 'tools/call') pending.toolCall = toolCallInfo(message, options.requestId);
    let sent = message;
    if (verdict?.refusedBy !== undefined) {
      const stand = standIn(message, method);
      sent = stand.message;
      pending.restore = stand.restore;
    }
    if (verdict?.filtersList && isFilteredList(method)) pending.listFilter = verdict;
    this.pending.set(id, pending);
    this.calls += 1;
    if (isListMethod(method)) pending.firstListPage = (params as { cursor?: unknown } | undefined)?.cursor === undefined;
    if (progressToken !== undefined) this.progress.set(progressToken, pending);
    pending.hardDeadline = pending.startedAt + this.host.settings.maxRequestDuration;
    pending.timer = setTimeout(() => this.timedOut(pending), Math.min(options.timeoutMs, this.host.settings.maxRequestDuration));
    this.touch();
    this.backend?.send(serialize(sent));
    return pending;
  }

  /** A client notification or response (to a server's request): passed on, nothing to wait for. */
  forward(message: Record<string, unknown>): void {
    this.checkWritable();
    this.pass(message);
  }

  /**
   * The gateway's own cancellation of a request it forwarded (its client closed the stream, or
   * never answered an input request): never refused, where a client's message is refused when
   * the server is not reading its input (it runs in a timer or a close handler, where a throw
   * would end the gateway), and nothing when the session has already ended.
   */
  cancelForClient(requestId: JsonRpcId, reason: string): void {
    if (this.closed) return;
    this.pass(cancelledMessage(requestId, reason));
  }

  private pass(message: Record<string, unknown>): void {
    this.touch();
    this.backend?.send(serialize(message));
    if (message.method === 'notifications/cancelled') {
      const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
      const pending = typeof requestId === 'string' || typeof requestId === 'number' ? this.pending.get(requestId) : undefined;
      // The server SHOULD NOT answer a cancelled request: free its POST now rather than at the timeout.
      if (pending) this.cancelled(pending);
    }
  }

  /** The client's POST went away before anything was sent: a JSON reply can never arrive, so cancel. */
  abandon(pending: PendingRequest): void {
    if (!pending.waiting) return;
    const group = pending.group;
    for (const member of group ? group.members : [pending]) {
      if (this.pending.get(member.id) !== member) continue;
      this.forget(member);
      this.done(member, 499);
      this.backend?.send(cancelledNotification(member.id, 'client disconnected'));
    }
    if (group) group.gone();
    else pending.settle({ kind: 'gone' });
  }

  private checkWritable(): void {
    if (this.closed) throw mcpHttpError(MCP_ERRORS.GW_MCP_SESSION_NOT_FOUND, 'session not found');
    const backlog = this.host.conf.max_message_bytes * STDIN_BACKLOG_MESSAGES;
    if ((this.backend?.backlog ?? 0) > backlog) {
      throw mcpHttpError(MCP_ERRORS.GW_MCP_SERVER_BUSY, 'the MCP server is not reading its input', { retryAfter: RETRY_AFTER_SECONDS });
    }
  }

  // ---- server → client -------------------------------------------------------------------

  private onMessage(raw: string, relatedTo?: JsonRpcId): void {
    if (this.closed) return;
    let message: unknown;
    try {
      message = JSON.parse(raw);
    } catch {
      return this.badLine(raw);
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return this.badLine(raw);
    // A raw CR can only be whitespace between JSON tokens here (inside a string it is invalid
    // JSON); it would end an SSE line, so it must not reach the stream.
    const line = raw.includes('\r') ? raw.replace(/\r/g, ' ') : raw;
    const m = message as Record<string, unknown>;
    if (typeof m.method === 'string') {
      if (this.pooled && !this.exclusive && 'id' in m) return this.refuseServerRequest(m);
      const stale = LIST_CHANGED[m.method];
      if (stale) this.host.listChanged(stale);
      if (stale || m.method === 'notifications/resources/updated') {
        const params = isObject(m.params) ? m.params : {};
        for (const listener of this.listeners) listener.heard(m.method, params);
      }
      if (m.method === 'notifications/progress') {
        const token = (m.params as { progressToken?: unknown } | undefined)?.progressToken;
        const pending = typeof token === 'string' || typeof token === 'number' ? this.progress.get(token) : undefined;
        if (pending) {
          this.extendDeadline(pending);
          return this.deliver(pending, line, false);
        }
      }
      return this.route(line, m.method, relatedTo);
    }
    const id = m.id;
    const pending = typeof id === 'string' || typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!pending) {
      // A late answer to a request that timed out or was cancelled.
      this.logger.debug({ id }, 'mcp server answered a request that is no longer in flight');
      return;
    }
    const result = isObject(m.result) ? m.result : undefined;
    if (pending.method === 'initialize') {
      const version = result?.protocolVersion;
      if (typeof version === 'string') this.protocolVersion = version;
      if (result) {
        this.initialized = true;
        this.host.initialized(result);
      }
      this.startOver();
    }
    if (pending.firstListPage && result && isListMethod(pending.method)) this.host.listSeen(pending.method, result);
    const error = m.error as { code?: unknown } | undefined;
    const rpcError = error === undefined ? undefined : typeof error.code === 'number' ? error.code : INTERNAL_ERROR;
    const toolError = pending.toolCall !== undefined && (m.result as { isError?: unknown } | undefined)?.isError === true;
    let answer = line;
    if (pending.listFilter) answer = filterListAnswer(answer, m, pending.method, pending.listFilter);
    if (pending.restore) answer = pending.restore(answer);
    this.finish(pending, answer, 200, rpcError, toolError);
  }

  /**
   * A shared pooled session's server asked the client something (sampling, elicitation, roots).
   * Its clients declared none of these capabilities (one that declares one gets a server of its
   * own per request: `exclusive`), so the server hears a refusal at once rather than waiting for
   * its own timeout. When one request is in flight, the question can only be its: that request
   * needs a capability its client did not declare, and fails as 2026-07-28 says (-32021, naming
   * the capability), its call cancelled at the server. With several, nothing says whose it is.
   */
  private refuseServerRequest(m: Record<string, unknown>): void {
    const id = m.id;
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const capability = CAPABILITY_OF_SERVER_REQUEST[String(m.method)];
    const owners = [...this.pending.values()].filter((pending) => !pending.options.quiet);
    this.backend?.send(errorResponse(id, METHOD_NOT_FOUND, `${String(m.method)} is not available: the client uses MCP 2026-07-28 through the gateway`));
    if (capability === undefined || owners.length !== 1) return;
    const [owner] = owners;
    this.backend?.send(cancelledNotification(owner.id, `the client did not declare the ${capability} capability`));
    const error = errorResponse(owner.id, MISSING_REQUIRED_CLIENT_CAPABILITY, `Missing required client capability: ${capability}`, {
      requiredCapabilities: { [capability]: {} },
    });
    this.finish(owner, error, 200, MISSING_REQUIRED_CLIENT_CAPABILITY);
  }

  private badLine(raw: string): void {
    this.badLines += 1;
    // MCP stdio: a server MUST NOT write anything that is not a message to stdout. Count, log a few.
    if (this.badLines <= 5 || this.badLines % 1000 === 0) {
      this.logger.warn({ count: this.badLines, line: raw.slice(0, 200) }, 'mcp server wrote a line that is not a JSON-RPC message; dropped');
    }
  }

  /** A notification or request from the server with no exact destination (see the file header). */
  private route(line: string, method: string, relatedTo: JsonRpcId | undefined): void {
    if (this.transport === 'sse') return this.sendLegacy(line);
    const related = relatedTo === undefined ? undefined : this.pending.get(relatedTo);
    if (related) return this.deliver(related, line, false);
    const unrelated = method.endsWith('/list_changed') || method === 'notifications/resources/updated';
    if (!unrelated && this.pending.size === 1) return this.deliver(this.pending.values().next().value!, line, false);
    if (this.pooled) return;
    if (this.standalone.connection || this.pending.size === 0) return this.append(this.standalone, line);
    // The oldest request in flight: long-running calls are the ones that log, report and ask.
    this.deliver(this.pending.values().next().value!, line, false);
  }

  private deliver(pending: PendingRequest, line: string, final: boolean): void {
    if (pending.options.legacy) return this.sendLegacy(line);
    // The gateway's own request (modern.ts: resources/subscribe): only its answer matters.
    if (pending.options.quiet && !final) return;
    if (!pending.stream) {
      if (final && pending.group) return pending.group.answer(pending, line);
      if (final) return pending.settle({ kind: 'json', line, status: pending.status });
      this.upgrade(pending);
    }
    this.append(pending.stream!, line);
    if (final) this.completeStream(pending.stream!);
  }

  /** The reply to `pending` becomes an SSE stream (something other than the response comes first). */
  private upgrade(pending: PendingRequest): void {
    const stream = new Stream(this.nextStreamId++, false);
    // Held until the handler has sent the headers and attached the response.
    stream.pinned = true;
    this.streams.set(stream.id, stream);
    if (this.log.resumable && wantsPrimingEvent(this.protocolVersion)) this.append(stream, '');
    if (pending.group) {
      // One stream for the whole batch: the responses already in go first.
      const { held, open } = pending.group.upgrade(stream);
      stream.awaiting = open;
      for (const line of held) this.append(stream, line);
      return;
    }
    pending.stream = stream;
    pending.settle({ kind: 'sse', stream });
  }

  private finish(pending: PendingRequest, line: string, status: number, rpcError?: number, toolError = false): void {
    this.forget(pending);
    pending.status = status;
    this.done(pending, status, rpcError, toolError);
    this.deliver(pending, line, true);
  }

  /** Reports a settled request once: to its HTTP exchange (status, error code) and, for tools/call, to the metrics. */
  private done(pending: PendingRequest, status: number, rpcError?: number, toolError = false): void {
    pending.report(status, rpcError);
    if (!pending.toolCall) return;
    try {
      this.host.toolCallDone(this, pending, status, rpcError, toolError);
    } finally {
      // Once: a request settles one way only.
      pending.toolCall = undefined;
    }
  }

  private forget(pending: PendingRequest): void {
    clearTimeout(pending.timer);
    if (this.pending.get(pending.id) === pending) this.pending.delete(pending.id);
    if (pending.progressToken !== undefined && this.progress.get(pending.progressToken) === pending) this.progress.delete(pending.progressToken);
    this.touch();
  }

  private timedOut(pending: PendingRequest): void {
    if (this.pending.get(pending.id) !== pending) return;
    const now = performance.now();
    if (pending.options.httpErrors) {
      this.forget(pending);
      this.done(pending, 504);
      const failure = initTimeoutFailure(pending.options.timeoutMs / 1000);
      pending.settle({ kind: 'failed', status: 504, reason: 'the MCP server did not answer in time', failure });
      return;
    }
    const seconds = Math.round((now - pending.startedAt) / 100) / 10;
    this.logger.warn({ id: pending.id, method: pending.method, seconds }, 'mcp request timed out; cancelled at the server');
    this.backend?.send(cancelledNotification(pending.id, `timed out after ${seconds} s at the gateway`));
    this.finish(pending, errorResponse(pending.id, REQUEST_TIMEOUT, `Request timed out after ${seconds} s`), 504, REQUEST_TIMEOUT);
    // A server that cannot initialize in time is not going to work (init_timeout).
    if (pending.method === 'initialize') this.close('the MCP server did not answer initialize in time', 504);
  }

  /** Progress restarts the request timer, never past the hard cap (MCP lifecycle, "Timeouts"). */
  private extendDeadline(pending: PendingRequest): void {
    const remaining = pending.hardDeadline - performance.now();
    if (remaining <= 0) return;
    clearTimeout(pending.timer);
    pending.timer = setTimeout(() => this.timedOut(pending), Math.min(pending.options.timeoutMs, remaining));
  }

  private cancelled(pending: PendingRequest): void {
    this.forget(pending);
    this.done(pending, 499);
    if (pending.stream) return this.completeStream(pending.stream);
    const line = errorResponse(pending.id, CONNECTION_CLOSED, 'Request cancelled by the client');
    if (pending.group) pending.group.answer(pending, line);
    else pending.settle({ kind: 'json', line, status: 499 });
  }

  // ---- streams ---------------------------------------------------------------------------

  private append(stream: Stream, data: string): void {
    const event: SseEvent = { seq: this.log.nextSeq(), stream, data, bytes: data.length + 32, dropped: false };
    const connection = stream.connection;
    const written = connection !== undefined && !connection.closed;
    if (written) this.write(stream, connection, event);
    if (!written || this.log.resumable) this.log.hold(event);
  }

  private write(stream: Stream, connection: SseConnection, event: SseEvent): void {
    stream.lastWritten = event.seq;
    if (!connection.event(event.data, this.log.resumable ? eventId(event) : undefined)) this.block(connection);
  }

  private completeStream(stream: Stream): void {
    stream.awaiting -= 1;
    if (stream.awaiting > 0) return;
    stream.complete = true;
    if (stream.connection && !stream.pinned) stream.connection.end();
  }

  /**
   * Attaches an HTTP response to `stream` and writes what it has not seen: every held event after
   * `afterSeq` (0 for a new stream; the Last-Event-ID when resuming).
   */
  attach(stream: Stream, connection: SseConnection, afterSeq: number): void {
    const previous = stream.connection;
    if (previous && previous !== connection) previous.destroy();
    stream.connection = connection;
    stream.pinned = false;
    this.touch();
    connection.onClose((finished) => this.detach(stream, connection, finished));
    for (const event of stream.events) if (event.seq > afterSeq && !connection.closed) this.write(stream, connection, event);
    if (!this.log.resumable) this.log.releaseUpTo(stream, stream.lastWritten);
    if (stream.complete) connection.end();
  }

  private detach(stream: Stream, connection: SseConnection, finished: boolean): void {
    this.unblock(connection);
    if (stream.connection !== connection) return;
    stream.connection = undefined;
    this.touch();
    if (!stream.standalone && stream.complete && finished) {
      // The whole reply reached the socket: nothing left to resume.
      this.log.release(stream);
      this.streams.delete(stream.id);
    }
  }

  /**
   * GET: the standalone stream, or with Last-Event-ID the stream that id belongs to, resumed after
   * it. Throws 409 when the standalone stream already has a live connection (one per session).
   */
  streamForGet(lastEventId: string | undefined): { stream: Stream; after: number } {
    const parsed = lastEventId ? parseEventId(lastEventId) : undefined;
    const resumed = parsed ? this.streams.get(parsed.stream) : undefined;
    if (parsed && resumed && !resumed.standalone) return { stream: resumed, after: parsed.seq };
    if (this.standalone.connection && !this.standalone.connection.closed) {
      throw mcpHttpError(MCP_ERRORS.GW_MCP_STREAM_CONFLICT, 'this session already has an open GET stream');
    }
    this.standalone.pinned = true;
    return { stream: this.standalone, after: parsed && resumed ? parsed.seq : this.standalone.lastWritten };
  }

  /** A handler gave up attaching (the client left while headers were being prepared). */
  unpin(stream: Stream): void {
    stream.pinned = false;
    if (stream.complete && !stream.standalone && !stream.connection && stream.events.length === 0) this.streams.delete(stream.id);
  }

  /** Legacy SSE: the one stream; its first event tells the client where to POST. */
  attachLegacy(connection: SseConnection, endpoint: string): void {
    this.legacy = connection;
    connection.onClose(() => {
      this.unblock(connection);
      this.close('the SSE client disconnected');
    });
    connection.event(endpoint, undefined, 'endpoint');
    const queued = this.legacyQueue;
    this.legacyQueue = [];
    for (const line of queued) this.sendLegacy(line);
  }

  private sendLegacy(line: string): void {
    const connection = this.legacy;
    if (!connection) {
      if (this.legacyQueue.length < LEGACY_QUEUE_LIMIT) this.legacyQueue.push(line);
      return;
    }
    if (!connection.event(line, undefined, 'message')) this.block(connection);
  }

  /** Writes a message the gateway itself makes (a rejected request's error) to the legacy stream. */
  sendToClient(line: string): void {
    if (this.transport === 'sse') this.sendLegacy(line);
    else this.append(this.standalone, line);
  }

  // ---- backpressure, keep-alive, idleness ------------------------------------------------

  private block(connection: SseConnection): void {
    if (this.blocked.has(connection)) return;
    this.blocked.add(connection);
    this.backend?.pause();
    connection.onDrain(() => this.unblock(connection));
  }

  private unblock(connection: SseConnection): void {
    if (!this.blocked.delete(connection)) return;
    if (this.blocked.size === 0) this.backend?.resume();
  }

  private connections(): SseConnection[] {
    const out: SseConnection[] = [];
    if (this.legacy && !this.legacy.closed) out.push(this.legacy);
    for (const stream of this.streams.values()) if (stream.connection && !stream.connection.closed) out.push(stream.connection);
    for (const listener of this.listeners) if (!listener.connection.closed) out.push(listener.connection);
    return out;
  }

  /** Called by the manager's timer: keep-alives, slow clients, long waits, stale streams. */
  tick(now: number): void {
    const pingMs = this.host.conf.ping_interval * 1000;
    for (const connection of this.connections()) {
      if (connection.blockedSince !== undefined && now - connection.blockedSince > 2 * pingMs) {
        // A client that stopped reading: drop it (its stream stays resumable) rather than hold
        // the server paused forever.
        this.logger.warn('mcp client stopped reading its stream; connection dropped');
        connection.destroy();
      } else if (now - connection.lastWrite >= pingMs) {
        connection.keepAlive();
      }
    }
    for (const pending of this.pending.values()) {
      // A long call answered as JSON would send nothing for minutes; as SSE it gets keep-alives.
      if (pending.waiting && !pending.stream && !pending.options.httpErrors && !pending.options.quiet && now - pending.startedAt >= pingMs) this.upgrade(pending);
    }
    for (const stream of this.streams.values()) {
      if (!stream.standalone && stream.complete && !stream.connection && !stream.pinned && stream.events.length === 0) this.streams.delete(stream.id);
    }
  }

  /**
   * Whether the client is visibly here: the session is starting, a request is in flight, or a
   * stream is open (or being opened). A client that keeps a GET stream open is listening, however
   * quiet; one that stopped reading is dropped after 2 × ping_interval, so an open stream is one
   * the client reads. Legacy SSE sessions end with their stream, so they are always busy.
   */
  get busy(): boolean {
    if (this.starting || this.pending.size > 0 || this.connections().length > 0) return true;
    for (const stream of this.streams.values()) if (stream.pinned) return true;
    return false;
  }

  summary(route: string): SessionSummary {
    const backend = this.backend?.describe() ?? null;
    const lastActive = Date.now() - (this.busy ? 0 : performance.now() - this.lastActivity);
    return {
      id: this.id,
      route,
      consumer: this.consumer ?? null,
      transport: this.transport,
      protocol_version: this.protocolVersion ?? null,
      created: new Date(this.created).toISOString(),
      last_active: new Date(lastActive).toISOString(),
      calls: this.calls,
      backend,
      ...(backend?.kind === 'stdio' && backend.pid !== undefined ? { child_pid: backend.pid } : {}),
    };
  }

  /** 0 while busy; otherwise how long since the client was last active. */
  idleFor(now: number): number {
    return this.busy ? 0 : now - this.lastActivity;
  }

  private touch(): void {
    this.lastActivity = performance.now();
  }

  // ---- the end ---------------------------------------------------------------------------

  private onBackendEnded(end: BackendEnd): void {
    this.host.backendEnded(end);
    if (this.closed) return;
    this.close(end.reason, end.status, end.failure);
  }

  /**
   * Ends the session: every request in flight gets an error, streams end, the backend is stopped.
   * Later requests with this session id get 404, the client's signal to initialize again.
   * `reason` is one of the end reasons telemetry knows; `failure`, when the server failed, says
   * how (exit code, signal, errno) to the requests in flight.
   */
  close(reason: string, status = 502, failure?: Failure): void {
    if (this.closed) return;
    this.closed = true;
    const message = `MCP session ended: ${failure?.message ?? reason}`;
    this.startOver();
    this.closing.abort(new Error(reason));
    for (const pending of [...this.pending.values()]) {
      if (pending.options.httpErrors && pending.waiting) {
        this.forget(pending);
        this.done(pending, status);
        pending.settle({ kind: 'failed', status: status === 504 ? 504 : 502, reason, failure });
      } else {
        this.finish(pending, errorResponse(pending.id, CONNECTION_CLOSED, message, failure?.data), status, CONNECTION_CLOSED);
      }
    }
    for (const stream of this.streams.values()) {
      stream.complete = true;
      // A stream being attached keeps its events: the handler writes them, then ends it.
      if (stream.connection) stream.connection.end();
      else if (!stream.pinned) this.log.release(stream);
    }
    this.legacy?.end();
    for (const listener of this.listeners) listener.connection.end();
    this.host.closed(this, reason, failure);
  }
}

/**
 * A client message for the backend. It is re-serialized from what the core parsed, so the server
 * sees exactly what auth, limits and logs saw (no duplicate keys read two ways), and no newline
 * in the client's body can split it into two messages on a child's stdin.
 */
function serialize(message: Record<string, unknown>): string {
  return JSON.stringify(message);
}
