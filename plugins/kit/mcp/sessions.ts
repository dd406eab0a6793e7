/**
 * The sessions of one mcp-bridge route: caps (per route, per consumer, gateway-wide) and reclaiming
 * idle sessions at a cap, lookup bound to the consumer that opened a session, idle reaping,
 * keep-alives.
 *
 * Most clients leave without DELETE (the SDK client's close(), MCP Inspector's CLI), so a cap
 * filled with their sessions would refuse everyone for session_idle_timeout (issue 10, item 15).
 * At a cap the least recently active session that is not busy (no request in flight, no open
 * stream, not starting) and has been idle for session_reclaim_idle is ended instead; its id then
 * answers 404, the spec's signal to initialize again.
 *
 * A route is recompiled whenever anything it depends on changes (a limit plugin's config, a
 * consumer). When the bridge's own config is unchanged the new route version adopts the running
 * sessions instead of killing every client's child; a changed config (another command, other
 * limits) ends them, and their clients initialize again.
 */
import { clientGone, GatewayError } from '../../../core/errors.js';
import type { Logger } from '../../../core/logger.js';
import type { Held } from '../../../core/ref-counted-map.js';
import type { BackendEnd, BackendEvents } from './backend.js';
import { spawnFailure, type Failure } from './failure.js';
import { MCP_ERRORS } from './errors.js';
import { RETRY_AFTER_SECONDS, mcpHttpError } from './jsonrpc.js';
import type { PendingRequest } from './pending.js';
import type { BridgeSettings, ReclaimCandidate, Runtime } from './runtime.js';
import { maxSessionsOf, type BridgeConf, type SessionConf } from './schema.js';
import { Session, type SessionHost, type SessionSummary, type TransportKind } from './session.js';
import { resolveReferences } from './secrets.js';
import type { RemoteSettings } from './remote-upstream.js';
import { StdioBackend, launchEnv } from './stdio-backend.js';
import { SharedBackend, SharedPool } from './shared.js';
import { PrewarmedBackend, WarmPool, fitsWarmChild } from './prewarm.js';
import type { ListMethod, McpServer, ServerUser } from './server.js';
import type { StartTurn } from './start-queue.js';
import { ENDED_BY_ADMIN, RECLAIMED, endReasonOf, toolCallOutcome } from './telemetry.js';

/** The MCP server a route's sessions go to: a catalog record (`id`), or the route's inline command. */
export interface ServerRef {
  readonly id?: string;
  /** The record as its sessions run it (JSON): another one makes what was seen of the old one stale. */
  readonly definition?: string;
  /** stderr lines the server keeps for the Admin API. */
  readonly logLines?: number;
  /** A remote server's settings (its sessions then have no child). */
  readonly remote?: RemoteSettings;
}

/**
 * Where a manager's sessions get their backends: one MCP server (a child per session, or a remote
 * server's session: `ServerSource`), or something built on servers (a federation of several).
 */
export interface BackendSource {
  /**
   * Before a session is counted: throws what a new session is answered when it cannot have a
   * backend now (a remote server failing its health check, a secret reference not set).
   */
  admit(): void;
  /** A session holds a child process of its own: mcp.max_children counts it. */
  readonly ownsChild: boolean;
  /** Ending an idle session of this source makes room under mcp.max_children (it holds children). */
  readonly freesChildren: boolean;
  /**
   * Opens the session's backend (`session.connect`) and resolves once it takes messages; ends
   * the session and throws what the client is answered when it cannot.
   */
  start(session: Session, signal: AbortSignal): Promise<void>;
  /** The MCP server a tool call went to (the metrics' `server` label); absent: the manager's. */
  serverOf?(session: Session, tool: string | undefined): string | undefined;
  /** The manager is gone (its last route version disposed, its sessions closed). */
  dispose?(): void;
  /** Starts children ahead of demand (`prewarm`), once the manager exists. */
  prewarm?(): void;
  /** A warm child is ready for a session whose initialize asks `initParams` (prewarm.ts). */
  warmFits?(initParams: unknown): boolean;
  /** Gives the session a warm child (when `warmFits`): its backend, and its slot of mcp.max_children. */
  takeWarm?(session: Session): void;
}

/**
 * The manager for this endpoint and config, shared by route versions — and routes — whose bridge
 * config is equal within one `scope` (see index.ts: the hosts, and the consumer of a consumer's own
 * bridge). `routeId` is the route that opened it, for logs, metrics and audit. `conf` is what the
 * sessions run with: for a route naming an MCP server, the server's fields in place of the route's.
 */
export function acquireManager(runtime: Runtime, scope: string, routeId: string, conf: BridgeConf, server: ServerRef = {}): Held<SessionManager> {
  return acquireSessions(runtime, `${scope}\n${JSON.stringify(conf)}`, routeId, conf, server, (manager) => new ServerSource(manager, conf));
}

/**
 * The manager under `key` (built with `source` on first use), shared by the route versions that
 * ask for the same key: a route recompiled for an unrelated change keeps its sessions. The last
 * holder's release ends its sessions.
 */
export function acquireSessions(
  runtime: Runtime,
  key: string,
  routeId: string,
  conf: SessionConf,
  server: ServerRef,
  source: (manager: SessionManager) => BackendSource,
): Held<SessionManager> {
  return runtime.managers.acquire(key, () => new SessionManager(runtime, conf, routeId, server, key, source));
}

/** A route version's hold on its session manager (what an MCP plugin's `create` returns): released when the version goes. */
export class SessionsLease {
  constructor(private readonly held: Held<SessionManager>) {}

  get manager(): SessionManager {
    return this.held.value;
  }

  dispose(): void {
    this.held.release();
  }
}

export class SessionManager implements SessionHost, ServerUser {
  readonly settings: BridgeSettings;
  readonly logger: Logger;
  /** The server these sessions belong to; its caps count the sessions of every route using it. */
  readonly server: McpServer;
  private readonly sessions = new Map<string, Session>();
  private readonly source: BackendSource;
  private timer?: NodeJS.Timeout;
  private disposed = false;

  constructor(
    readonly runtime: Runtime,
    readonly conf: SessionConf,
    readonly routeId: string,
    serverRef: ServerRef,
    managerKey: string,
    source: (manager: SessionManager) => BackendSource,
  ) {
    this.settings = runtime.settings;
    this.logger = runtime.logger.child(serverRef.id === undefined ? { route: routeId } : { route: routeId, mcp_server: serverRef.id });
    // A route's inline command is a server without a name, one per manager.
    const key = serverRef.id === undefined ? `inline:${managerKey}` : `mcp_servers/${serverRef.id}`;
    this.server = runtime.servers.acquire(key, serverRef.id, this);
    if (serverRef.definition !== undefined) {
      const remote = serverRef.remote && { settings: serverRef.remote, logger: this.logger };
      this.server.define(serverRef.definition, serverRef.logLines ?? 0, remote);
    }
    this.source = source(this);
    this.source.prewarm?.();
  }

  /** The metric labels of this manager's sessions: its route and its MCP server ('' for an inline command). */
  private get labels(): { route: string; server: string } {
    return { route: this.routeId, server: this.server.id ?? '' };
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Opens a session (its backend starts in `start`). At a cap — the server's max_sessions (this
   * route's, for an inline command), this consumer's max_sessions_per_consumer, the gateway's
   * mcp.max_children (for a child) — the least recently active session idle for
   * session_reclaim_idle is ended to make room; without one, 503 + Retry-After. A remote server
   * failing its health check refuses at once (502).
   */
  open(transport: TransportKind, consumer: string | undefined, initParams?: unknown): Session {
    if (this.disposed) throw mcpHttpError(MCP_ERRORS.GW_MCP_ROUTE_CHANGED, 'route is being reconfigured', { retryAfter: 1 });
    this.source.admit();
    const busy = (message: string) => mcpHttpError(MCP_ERRORS.GW_MCP_TOO_MANY_SESSIONS, message, { retryAfter: RETRY_AFTER_SECONDS });
    const now = performance.now();
    const where = this.server.id === undefined ? 'this route already has' : `MCP server ${this.server.id} already has`;
    const maxSessions = maxSessionsOf(this.conf);
    if (this.server.sessions >= maxSessions && !this.server.reclaim(now, 'max_sessions')) {
      throw busy(`${where} ${maxSessions} sessions (max_sessions)`);
    }
    const perConsumer = this.conf.max_sessions_per_consumer;
    if (perConsumer > 0 && this.server.sessionsOf(consumer) >= perConsumer && !this.server.reclaim(now, 'max_sessions_per_consumer', { consumer })) {
      const scope = this.server.id === undefined ? 'on this route' : `on MCP server ${this.server.id}`;
      throw busy(`this consumer already has ${perConsumer} sessions ${scope} (max_sessions_per_consumer)`);
    }
    // A session that takes a warm child takes over the slot that child holds (prewarm.ts).
    const warm = this.source.ownsChild && this.source.warmFits?.(initParams) === true;
    if (this.source.ownsChild && !warm && !this.runtime.claim()) throw busy(`the gateway already runs ${this.settings.maxChildren} MCP servers (mcp.max_children)`);
    const session = new Session(this, transport, consumer);
    session.initParams = initParams;
    // Now, in the same turn as the check: no other session can have taken it meanwhile.
    if (warm) this.source.takeWarm!(session);
    this.sessions.set(session.id, session);
    this.server.opened(consumer);
    this.runtime.metrics.mcpSessionsCreated.inc({ ...this.labels, transport });
    this.logger.info({ session: session.id, transport, consumer }, 'mcp session opened');
    this.startTimer();
    return session;
  }

  /** Opens the session's backend (see BackendSource.start). */
  start(session: Session, signal: AbortSignal): Promise<void> {
    return this.source.start(session, signal);
  }

  /** For mcp.max_children: a session with a child that may be ended to make room (a remote session frees no child). */
  reclaimableChild(now: number): ReclaimCandidate | undefined {
    return this.source.freesChildren ? this.reclaimable(now) : undefined;
  }

  /**
   * The least recently active session of this route (of `consumer`'s, when given) that may be
   * ended to make room: not busy (Session.busy) and idle for at least session_reclaim_idle. The
   * server asks every route using it.
   */
  reclaimable(now: number, owner?: { consumer: string | undefined }, holds?: (session: Session) => boolean): ReclaimCandidate | undefined {
    const minIdle = this.conf.session_reclaim_idle * 1000;
    let oldest: Session | undefined;
    for (const session of this.sessions.values()) {
      if (session.closed || session.busy || (owner && session.consumer !== owner.consumer) || (holds && !holds(session))) continue;
      if (now - session.lastActivity >= minIdle && (!oldest || session.lastActivity < oldest.lastActivity)) oldest = session;
    }
    if (!oldest) return undefined;
    const victim = oldest;
    const idleMs = now - victim.lastActivity;
    return {
      idleMs,
      reclaim: (cap) => {
        this.logger.info({ session: victim.id, consumer: victim.consumer, idle_seconds: Math.round(idleMs / 100) / 10, cap }, 'mcp session reclaimed for a new one');
        victim.close(RECLAIMED);
      },
    };
  }

  /** The session, if it exists and belongs to `consumer`; another consumer's session is "not found". */
  find(id: string, consumer: string | undefined, transport: TransportKind): Session | undefined {
    const session = this.sessions.get(id);
    if (!session || session.closed || session.pooled || session.consumer !== consumer || session.transport !== transport) return undefined;
    return session;
  }

  closed(session: Session, reason: string, failure?: Failure): void {
    if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      if (this.source.ownsChild) this.runtime.unclaim();
      this.server.closed(session.consumer);
    }
    this.server.sessionEnded(reason, failure?.message, session.initialized);
    this.runtime.metrics.mcpSessionsEnded.inc({ ...this.labels, reason: endReasonOf(reason) });
    this.logger.info({ session: session.id, reason }, 'mcp session closed');
    const backend = session.backend;
    if (backend) {
      const stop = backend.stop(reason).finally(() => {
        if (backend instanceof StdioBackend) this.runtime.release(backend);
        else if (backend instanceof PrewarmedBackend) this.runtime.release(backend.inner);
      });
      this.runtime.track(stop);
    }
    if (this.sessions.size === 0) this.stopTimer();
  }

  /** A backend ended: a process that exited without being asked, or could not be started, is a crash. */
  backendEnded(end: BackendEnd): void {
    if (end.crash) this.runtime.metrics.mcpChildCrashes.inc({ ...this.labels, reason: end.crash });
    this.server.backendEnded(end);
  }

  initialized(result: Record<string, unknown>): void {
    this.server.initialized(result);
  }

  listSeen(method: ListMethod, result: Record<string, unknown>): void {
    this.server.listSeen(method, result, 'session');
  }

  listChanged(method: ListMethod): void {
    this.server.listChanged(method);
  }

  /** Its live sessions (those `holds` picks), for the Admin API. */
  summaries(holds?: (session: Session) => boolean): SessionSummary[] {
    return [...this.sessions.values()].filter((s) => !s.closed && (!holds || holds(s))).map((s) => s.summary(this.routeId));
  }

  /** A live session by id, whoever opened it (for the Admin API). */
  sessionById(id: string): Session | undefined {
    const session = this.sessions.get(id);
    return session && !session.closed ? session : undefined;
  }

  /** An operator ends a session: its backend stops as on a client's DELETE, its id answers 404 from then on. */
  endSession(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session || session.closed) return false;
    this.logger.info({ session: id }, 'mcp session ended through the Admin API');
    session.close(ENDED_BY_ADMIN);
    return true;
  }

  /** A tools/call got its answer (or never will): metrics always, an audit record when someone listens. */
  toolCallDone(session: Session, pending: PendingRequest, status: number, rpcError: number | undefined, toolError: boolean): void {
    const call = pending.toolCall;
    if (!call) return;
    const outcome = pending.restore ? 'denied' : toolCallOutcome(status, rpcError, toolError);
    const latencyMs = performance.now() - pending.startedAt;
    this.runtime.metrics.recordToolCall(this.routeId, call.name, outcome, latencyMs, this.source.serverOf?.(session, call.name) ?? this.server.id ?? '');
    if (!this.runtime.toolCalls.wants(this.routeId)) return;
    this.runtime.toolCalls.publish(
      {
        time: call.time,
        routeId: this.routeId,
        consumer: session.consumer,
        sessionId: session.id,
        requestId: call.requestId,
        transport: session.transport,
        tool: call.name,
        id: pending.id,
        argumentsBytes: call.argumentsBytes,
        arguments: call.arguments,
        outcome,
        errorCode: rpcError,
        latencyMs,
      },
      (err) => this.logger.error({ err }, 'tool call listener failed'),
    );
  }

  /** Its last route version let go of it (runtime.managers): every session ends. */
  close(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const session of [...this.sessions.values()]) session.close('the route was changed or deleted');
    this.source.dispose?.();
    this.stopTimer();
    this.runtime.servers.release(this.server, this);
  }

  private startTimer(): void {
    if (this.timer) return;
    const pingMs = this.conf.ping_interval * 1000;
    const idleMs = this.conf.session_idle_timeout * 1000;
    const period = Math.max(20, Math.min(1000, pingMs / 2, idleMs / 4));
    this.timer = setInterval(() => this.tick(), period);
    this.timer.unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = performance.now();
    const idleMs = this.conf.session_idle_timeout * 1000;
    for (const session of [...this.sessions.values()]) {
      if (session.idleFor(now) >= idleMs) session.close('idle timeout');
      else session.tick(now);
    }
  }
}

/**
 * The backends of one MCP server: a child per session for a stdio server (spawned through the
 * start queue, counted against mcp.max_children), an upstream session for a remote one.
 */
class ServerSource implements BackendSource {
  /** process_mode shared: the children every session of this manager shares (shared.ts). */
  private pool?: SharedPool;
  /** prewarm: children initialized ahead of demand (prewarm.ts). */
  private warm?: WarmPool;

  constructor(
    private readonly manager: SessionManager,
    /** What the sessions run: the route's inline command, or the server record's fields. */
    private readonly conf: BridgeConf,
  ) {}

  private get server(): McpServer {
    return this.manager.server;
  }

  private get shared(): boolean {
    return !this.server.remote && this.conf.process_mode === 'shared';
  }

  get ownsChild(): boolean {
    return !this.server.remote && !this.shared;
  }

  get freesChildren(): boolean {
    return this.ownsChild;
  }

  dispose(): void {
    this.warm?.dispose();
    this.warm = undefined;
    const pool = this.pool;
    this.pool = undefined;
    if (pool) this.manager.runtime.track(pool.dispose());
  }

  /** Starts the warm children (prewarm) once the manager exists; a shared pool starts its own. */
  prewarm(): void {
    const count = this.conf.prewarm ?? 0;
    if (count <= 0 || this.server.remote || this.warm) return;
    if (this.shared) {
      // Started before anyone asked: no session of another route is ended to make room.
      void this.sharedPool()
        .ready({}, { reclaim: false })
        .catch((err: Error) => this.manager.logger.warn({ err: err.message }, 'prewarming the shared MCP servers failed'));
      return;
    }
    this.warm = new WarmPool(
      count,
      this.manager.runtime,
      () => this.childOptions('prewarm'),
      this.manager.logger.child({ prewarm: true }),
      { route: this.manager.routeId, server: this.server.id ?? '' },
      this.conf.init_timeout * 1000,
    );
  }

  private childOptions(sessionId: string) {
    const { conf } = this;
    const env = this.launchEnv();
    return { command: conf.command, args: conf.args, env, cwd: conf.cwd, maxLineBytes: conf.max_message_bytes, settings: this.manager.settings, onStderr: (line: string) => this.server.stderrLine(sessionId, line) };
  }

  private sharedPool(): SharedPool {
    if (!this.pool) {
      const { conf } = this;
      const options = () => this.childOptions('shared');
      this.pool = new SharedPool(
        conf.shared_children ?? 2,
        this.manager.runtime,
        options,
        this.manager.logger.child({ process_mode: 'shared' }),
        { route: this.manager.routeId, server: this.server.id ?? '' },
        conf.init_timeout * 1000,
      );
    }
    return this.pool;
  }

  warmFits(initParams: unknown): boolean {
    return (this.warm?.warm ?? 0) > 0 && fitsWarmChild(initParams);
  }

  takeWarm(session: Session): void {
    const warm = this.warm!;
    session.connect((events) => warm.take(events)!);
  }

  admit(): void {
    const remote = this.server.remote;
    if (remote?.failing) {
      throw mcpHttpError(MCP_ERRORS.GW_MCP_SERVER_FAILING, `the remote MCP server is failing its health checks: ${remote.health?.error ?? 'no answer'}`, {
        data: { reason: 'health_check_failed' },
      });
    }
    try {
      // A secret reference that does not resolve fails here, before any session exists.
      if (remote) resolveReferences('headers', remote.settings.headers);
      else this.launchEnv();
    } catch (err) {
      this.server.startRefused((err as Error).message);
      throw err;
    }
  }

  /** The child's environment for a start, after a last look at the command line (stdio-backend.ts). */
  private launchEnv(): Record<string, string> {
    return launchEnv(this.conf, this.server.id !== undefined, this.manager.settings.allowedCommands, this.manager.logger);
  }

  /**
   * Waits for the session's turn in the start queue, then spawns its child and waits for the
   * process to run. Ends the session and throws when that fails: 503 when the queue is full, 499
   * when the client left while waiting, 502 when the child cannot be started.
   */
  async start(session: Session, signal: AbortSignal): Promise<void> {
    if (this.server.remote) return this.startRemote(session);
    if (this.shared) {
      const pool = this.sharedPool();
      session.connect((events) => new SharedBackend(pool, events));
      return;
    }
    // It took a warm child when it opened.
    if (session.backend) return;
    // A pool whose start failed tries again for each new session.
    this.warm?.resume();
    const runtime = this.manager.runtime;
    let env: Record<string, string>;
    try {
      env = this.launchEnv();
    } catch (err) {
      const failure = { message: (err as Error).message, data: {} };
      session.close('the MCP server could not be started', (err as GatewayError).status ?? 502, failure);
      throw err;
    }
    let turn: StartTurn;
    try {
      turn = await runtime.starts.admit(AbortSignal.any([signal, session.closingSignal]));
    } catch (err) {
      if (session.closed) throw mcpHttpError(MCP_ERRORS.GW_MCP_ROUTE_CHANGED, 'the session ended before its server started', { retryAfter: 1 });
      if (err instanceof GatewayError) {
        session.close('the start queue was full');
        throw err;
      }
      session.close('the client left before its server started');
      throw clientGone();
    }
    const cannotStart = (err: unknown) => {
      const failure = spawnFailure(err, this.conf.cwd);
      session.close('the MCP server could not be started', 502, failure);
      return mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, failure.message, { cause: err, data: failure.data });
    };
    const { conf } = this;
    const { settings } = this.manager;
    let child: StdioBackend;
    try {
      const onStderr = (line: string) => this.server.stderrLine(session.id, line);
      const open = (events: BackendEvents, logger: Logger) =>
        new StdioBackend({ command: conf.command, args: conf.args, env, cwd: conf.cwd, maxLineBytes: conf.max_message_bytes, settings, logger, onStderr }, events);
      child = session.connect(open, turn);
      // Before any exit can be reported (a child's exit waits for the rest of its stdout).
      child.started.then(() => this.server.started(), () => undefined);
    } catch (err) {
      // spawn() throws synchronously only for arguments it cannot pass (a NUL byte, say).
      runtime.starts.processGone();
      throw cannotStart(err);
    }
    runtime.adopt(child, this.manager.routeId, this.server.id);
    try {
      await child.started;
    } catch (err) {
      throw cannotStart(err);
    }
  }

  /**
   * A remote server's session: its backend opens its upstream session lazily, with the client's
   * initialize, so nothing waits here (no child, no start queue).
   */
  private startRemote(session: Session): void {
    const remote = this.server.remote!;
    const hooks = { sessionCreated: () => this.server.upstreamSessionCreated(), trouble: (message: string) => this.server.noteTrouble(message) };
    session.connect((events, logger) => remote.open(events, hooks, this.conf.max_message_bytes, logger));
  }
}
