/**
 * `process_mode: shared`: 2025-era sessions multiplexed over a small pool of children
 * (`shared_children`) instead of a child each. A session's backend is a `SharedBackend`: its
 * `initialize` is answered from the initialize result the pool cached when it started its
 * children (the first session's parameters), and each request goes to one child (the one with
 * the fewest requests in flight) with its JSON-RPC id and progress token replaced by ones unique
 * in the pool; the answer, progress and the client's cancellation are mapped back and forth, so
 * that each session sees only its own traffic, whatever ids its client chose.
 *
 * What a child sends that names no request (logging, list_changed) goes to the one session with a
 * request in flight on that child, else nowhere: never to several sessions. A request from a child
 * to a client (sampling, roots) goes to the session whose request is alone in flight on that
 * child; with several, the child is refused at once. A child that exits fails the requests in
 * flight on it with the cause; its sessions carry on, and the pool starts a replacement after a
 * backoff (0.1 s, doubling up to 5 s while replacements keep failing to start or exit within 5 s
 * of starting), and again until one runs. A child that exits, refuses initialize or does not answer it within init_timeout has
 * failed its start, and is stopped.
 */
import type { Logger } from '../../../core/logger.js';
import type { Backend, BackendEvents, BackendInfo } from './backend.js';
import type { ChildOptions } from './child.js';
import { CONNECTION_CLOSED, METHOD_NOT_FOUND, PROTOCOL_VERSIONS, cancelledNotification, errorResponse, isObject, type JsonRpcId } from './jsonrpc.js';
import type { Runtime } from './runtime.js';
import { StdioBackend } from './stdio-backend.js';

interface Flight {
  readonly owner: SharedBackend;
  readonly clientId: JsonRpcId;
  readonly clientToken?: string | number;
  readonly child: PoolChild;
}

interface PoolChild {
  readonly backend: StdioBackend;
  /** Requests in flight on it, by the pool's id. */
  readonly flights: Map<string, Flight>;
  ready: boolean;
  /** The id of the gateway's initialize to it, while unanswered. */
  initId?: string;
  /** performance.now() when it answered initialize. */
  readyAt?: number;
}

const MAX_BACKOFF_MS = 5000;
/**
 * How long a child must have run for its exit to count as a crash of a working server rather than
 * a failed start: only then does the next replacement wait the shortest time again. A server that
 * exits right after initialize would otherwise be restarted every 0.1 s for as long as the route
 * lives.
 */
const STABLE_MS = MAX_BACKOFF_MS;

export class SharedPool {
  private readonly children: PoolChild[] = [];
  private initializeResult?: Record<string, unknown>;
  private starting?: Promise<void>;
  private readonly flights = new Map<string, Flight>();
  /** A child's request to a client, by the id the client sees: which child asked, with which id. */
  private readonly asked = new Map<string, { child: PoolChild; id: JsonRpcId; owner: SharedBackend }>();
  private nextId = 1;
  private backoffMs = 100;
  private initParams?: Record<string, unknown>;
  private disposed = false;
  /** The pending replacement of missing children. */
  private replacing?: NodeJS.Timeout;

  constructor(
    private readonly size: number,
    private readonly runtime: Runtime,
    private readonly options: () => Omit<ChildOptions, 'logger'>,
    private readonly logger: Logger,
    private readonly labels: { route: string; server: string },
    /** init_timeout: how long a child has to answer initialize. */
    private readonly initTimeoutMs: number,
  ) {}

  get pids(): number[] {
    return this.children.flatMap((c) => (c.backend.pid === undefined ? [] : [c.backend.pid]));
  }

  /**
   * Resolves once a child is ready: the children start (once) initialized with the first
   * session's initialize parameters. When none could start, the next session tries again.
   */
  ready(initParams: Record<string, unknown>, options: { reclaim?: boolean } = {}): Promise<void> {
    this.initParams ??= initParams;
    if (this.children.some((c) => c.ready)) return Promise.resolve();
    if (!this.starting) {
      const missing = Math.max(1, this.size - this.children.length);
      const starting = Promise.allSettled(Array.from({ length: missing }, () => this.spawn(options.reclaim ?? true))).then((outcomes) => {
        if (this.children.some((c) => c.ready)) return;
        const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        throw failed?.reason instanceof Error ? failed.reason : new Error('no MCP server of the shared pool could start');
      });
      this.starting = starting;
      starting.then(
        () => (this.starting = undefined),
        () => (this.starting = undefined),
      );
    }
    return this.starting;
  }

  get cachedInitialize(): Record<string, unknown> | undefined {
    return this.initializeResult;
  }

  private fresh(): string {
    return `tg-${this.nextId++}`;
  }

  /** `reclaim`: at mcp.max_children, may another route's idle session be ended for this child (Runtime.claim)? */
  private async spawn(reclaim = true): Promise<void> {
    if (this.disposed) return;
    // The command line is checked (and $env:// references resolved) before anything is counted.
    const options = this.options();
    if (!this.runtime.claim(reclaim)) throw new Error(`the gateway already runs ${this.runtime.settings.maxChildren} MCP servers (mcp.max_children)`);
    const entry = {} as PoolChild;
    let backend: StdioBackend;
    try {
      backend = new StdioBackend(
        { ...options, logger: this.logger },
        {
          message: (text) => this.fromChild(entry, text),
          ended: () => this.ended(entry),
        },
      );
    } catch (err) {
      this.runtime.unclaim();
      throw err;
    }
    Object.assign(entry, { backend, flights: new Map(), ready: false });
    this.children.push(entry);
    this.runtime.adopt(backend, this.labels.route, this.labels.server);
    try {
      await backend.started;
      const result = await this.initialize(entry);
      this.initializeResult ??= result;
      backend.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      entry.ready = true;
      entry.readyAt = performance.now();
    } catch (err) {
      // A child that refused or did not answer initialize would hold a slot of mcp.max_children
      // and count as present, so no replacement would ever start: it is stopped, and its end
      // (`ended`) frees the slot and schedules the next try.
      this.runtime.track(backend.stop());
      throw err;
    }
  }

  /** The child's initialize result; rejects when it refuses, exits first, or takes longer than init_timeout. */
  private initialize(child: PoolChild): Promise<Record<string, unknown>> {
    const id = this.fresh();
    child.initId = id;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.initWaiters.delete(id);
        reject(new Error(`the MCP server did not answer initialize within ${this.initTimeoutMs / 1000} s (init_timeout)`));
      }, this.initTimeoutMs);
      timer.unref();
      this.initWaiters.set(id, {
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
    child.backend.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSIONS[0], capabilities: {}, clientInfo: { name: 'tollgate', version: '1' }, ...this.initParams } }));
    return answer;
  }

  private readonly initWaiters = new Map<string, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();

  /** One session's request: to the least busy ready child, under an id unique in the pool. */
  send(owner: SharedBackend, message: Record<string, unknown>): void {
    const method = message.method;
    const id = message.id;
    if (typeof method === 'string' && (typeof id === 'string' || typeof id === 'number')) {
      const child = this.pick();
      if (!child) {
        owner.deliver(errorResponse(id, CONNECTION_CLOSED, 'no MCP server of the shared pool is running; try again shortly'));
        return;
      }
      const poolId = this.fresh();
      const params = isObject(message.params) ? { ...message.params } : undefined;
      const meta = params && isObject(params._meta) ? { ...params._meta } : undefined;
      const token = meta?.progressToken;
      const hasToken = typeof token === 'string' || typeof token === 'number';
      if (hasToken) {
        meta!.progressToken = poolId;
        params!._meta = meta;
      }
      const flight: Flight = { owner, clientId: id, clientToken: hasToken ? token : undefined, child };
      this.flights.set(poolId, flight);
      child.flights.set(poolId, flight);
      owner.flights.set(id, poolId);
      child.backend.send(JSON.stringify({ ...message, id: poolId, ...(params ? { params } : {}) }));
      return;
    }
    if (method === 'notifications/cancelled' && isObject(message.params)) {
      const requestId = message.params.requestId;
      const poolId = typeof requestId === 'string' || typeof requestId === 'number' ? owner.flights.get(requestId) : undefined;
      const flight = poolId === undefined ? undefined : this.flights.get(poolId);
      if (flight && poolId !== undefined) {
        flight.child.backend.send(JSON.stringify({ ...message, params: { ...message.params, requestId: poolId } }));
        // The child should not answer a cancelled request: forget it now, not never.
        this.settle(poolId, flight);
      }
      return;
    }
    if (method === undefined && typeof id === 'string') {
      // The client's answer to a child's request.
      const asked = this.asked.get(id);
      if (asked && asked.owner === owner) {
        this.asked.delete(id);
        asked.child.backend.send(JSON.stringify({ ...message, id: asked.id }));
      }
    }
    // Other notifications (initialized, roots/list_changed) concern one client, not a shared child.
  }

  /** A session ended: its requests in flight are cancelled at their children. */
  forget(owner: SharedBackend): void {
    for (const poolId of owner.flights.values()) {
      const flight = this.flights.get(poolId);
      if (!flight) continue;
      this.flights.delete(poolId);
      flight.child.flights.delete(poolId);
      flight.child.backend.send(cancelledNotification(poolId, 'the session ended'));
    }
    owner.flights.clear();
    for (const [id, asked] of this.asked) if (asked.owner === owner) this.asked.delete(id);
  }

  private pick(): PoolChild | undefined {
    let best: PoolChild | undefined;
    for (const child of this.children) if (child.ready && (!best || child.flights.size < best.flights.size)) best = child;
    return best;
  }

  private fromChild(child: PoolChild, text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const id = message.id;
    if (typeof message.method !== 'string') {
      if (typeof id !== 'string') return;
      const waiter = this.initWaiters.get(id);
      if (waiter) {
        this.initWaiters.delete(id);
        if (isObject(message.result)) waiter.resolve(message.result);
        else waiter.reject(new Error('the MCP server refused to initialize'));
        return;
      }
      const flight = this.flights.get(id);
      if (!flight) return;
      this.settle(id, flight);
      flight.owner.deliver(JSON.stringify({ ...message, id: flight.clientId }));
      return;
    }
    if (message.method === 'notifications/progress' && isObject(message.params)) {
      const token = message.params.progressToken;
      const flight = typeof token === 'string' ? this.flights.get(token) : undefined;
      if (flight?.clientToken !== undefined) flight.owner.deliver(JSON.stringify({ ...message, params: { ...message.params, progressToken: flight.clientToken } }));
      return;
    }
    if (message.method === 'notifications/cancelled' && isObject(message.params)) {
      const requestId = message.params.requestId;
      const asked = typeof requestId === 'string' || typeof requestId === 'number' ? [...this.asked].find(([, a]) => a.child === child && a.id === requestId) : undefined;
      if (asked) {
        this.asked.delete(asked[0]);
        asked[1].owner.deliver(JSON.stringify({ ...message, params: { ...message.params, requestId: asked[0] } }));
      }
      return;
    }
    // Nothing names the request this belongs to: only a child with one request in flight can say.
    const only = child.flights.size === 1 ? child.flights.values().next().value! : undefined;
    if (typeof id === 'string' || typeof id === 'number') {
      if (!only) {
        child.backend.send(errorResponse(id, METHOD_NOT_FOUND, `${message.method} cannot be routed: this server is shared by several sessions (process_mode: shared)`));
        return;
      }
      const clientSees = this.fresh();
      this.asked.set(clientSees, { child, id, owner: only.owner });
      only.owner.deliver(JSON.stringify({ ...message, id: clientSees }));
      return;
    }
    if (only) only.owner.deliver(text);
  }

  private settle(poolId: string, flight: Flight): void {
    this.flights.delete(poolId);
    flight.child.flights.delete(poolId);
    if (flight.owner.flights.get(flight.clientId) === poolId) flight.owner.flights.delete(flight.clientId);
  }

  /** A child ended: its requests fail with the cause, a replacement starts after a backoff. */
  private ended(child: PoolChild): void {
    const index = this.children.indexOf(child);
    if (index >= 0) this.children.splice(index, 1);
    this.runtime.release(child.backend);
    this.runtime.unclaim();
    // Only its own initialize: a sibling starting at the same time may still answer.
    const waiter = child.initId === undefined ? undefined : this.initWaiters.get(child.initId);
    if (waiter) {
      this.initWaiters.delete(child.initId!);
      waiter.reject(new Error('the MCP server exited before answering initialize'));
    }
    for (const [poolId, flight] of [...child.flights]) {
      this.settle(poolId, flight);
      flight.owner.deliver(errorResponse(flight.clientId, CONNECTION_CLOSED, 'the MCP server exited; other requests are unaffected, and a new server is starting'));
    }
    for (const [id, asked] of this.asked) if (asked.child === child) this.asked.delete(id);
    // Before the pool ever ran, a failed start is the session's to report, and the next session
    // tries again. Once it has run, its sessions depend on it: a missing child is replaced.
    if (this.disposed || this.initializeResult === undefined) return;
    if (child.readyAt !== undefined && performance.now() - child.readyAt >= STABLE_MS) this.backoffMs = 100;
    this.replace();
  }

  /**
   * Starts the children the pool is missing after a backoff (0.1 s, doubling up to 5 s while
   * replacements keep failing or exiting soon after they start, back to 0.1 s once a child that ran
   * for STABLE_MS ends). One replacement is pending at a time: a start that fails both ends a child
   * and rejects, and schedules once.
   */
  private replace(): void {
    if (this.replacing || this.disposed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    this.logger.warn({ delay_ms: delay }, 'a shared MCP server is missing; starting a replacement');
    this.replacing = setTimeout(() => {
      this.replacing = undefined;
      const missing = this.size - this.children.length;
      for (let i = 0; i < missing; i++) {
        void this.spawn().catch((err: Error) => {
          this.logger.warn({ err: err.message }, 'a shared MCP server failed to start');
          this.replace();
        });
      }
    }, delay);
    this.replacing.unref();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    clearTimeout(this.replacing);
    await Promise.all(this.children.map((c) => c.backend.stop()));
  }
}

/** One session's view of the pool. */
export class SharedBackend implements Backend {
  readonly started = Promise.resolve();
  /** The session's requests in flight: the client's id → the pool's. */
  readonly flights = new Map<JsonRpcId, string>();
  private ended = false;

  constructor(
    private readonly pool: SharedPool,
    private readonly events: BackendEvents,
  ) {}

  deliver(line: string): void {
    if (!this.ended) this.events.message(line);
  }

  send(text: string): void {
    if (this.ended) return;
    const message = JSON.parse(text) as Record<string, unknown>;
    if (message.method === 'initialize') {
      const id = message.id as JsonRpcId;
      const params = isObject(message.params) ? message.params : {};
      this.pool.ready({ capabilities: params.capabilities ?? {}, clientInfo: params.clientInfo ?? { name: 'tollgate', version: '1' } }).then(
        () => this.deliver(JSON.stringify({ jsonrpc: '2.0', id, result: this.pool.cachedInitialize })),
        (err: Error) => this.deliver(errorResponse(id, CONNECTION_CLOSED, err.message)),
      );
      return;
    }
    this.pool.send(this, message);
  }

  get backlog(): number {
    return 0;
  }

  // A shared child is not paused for one slow client.
  pause(): void {}
  resume(): void {}

  stop(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.pool.forget(this);
      this.events.ended({ reason: 'the client ended the session', status: 200, requested: true });
    }
    return Promise.resolve();
  }

  describe(): BackendInfo {
    return { kind: 'stdio' };
  }
}
