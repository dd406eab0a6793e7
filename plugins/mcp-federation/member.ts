/**
 * One server of a federation, as one client session uses it: its backend session (opened when
 * first needed, at most one at a time), the requests the gateway sent it, and its lists, cached
 * until the server says they changed.
 */
import type { Logger } from '../../core/logger.js';
import {
  launchBackend,
  mcpHttpError,
  MCP_ERRORS,
  type BackendEnd,
  type JsonRpcId,
  type Launched,
  type McpServer,
  type Runtime,
  type ServerRecord,
  isListMethod,
} from '../kit/mcp/index.js';
import { LISTS } from './names.js';

/** A server of the federation as the route knows it: its record, its prefix, and this gateway's view of it. */
export interface MemberSpec {
  readonly index: number;
  readonly serverId: string;
  readonly prefix: string;
  /** prefix + separator. */
  readonly head: string;
  readonly record: ServerRecord;
  readonly server: McpServer;
}

/** What a member needs of the client session it serves. */
export interface MemberHost {
  readonly runtime: Runtime;
  readonly routeId: string;
  readonly sessionId: string;
  readonly consumer: string | undefined;
  readonly transport: 'streamable-http' | 'sse';
  readonly maxMessageBytes: number;
  readonly retryMs: number;
  readonly logger: Logger;
  /** Aborts when the client session ends. */
  readonly closing: AbortSignal;
  /** What the client said in its initialize: the servers get the same. */
  initializeParams(): Record<string, unknown>;
  /** A message from the server (a response to a relayed request, a notification, a request). */
  message(member: Member, text: string, relatedTo: JsonRpcId | undefined): void;
  /** The server's session ended; `requested` when the gateway ended it. */
  ended(member: Member, end: BackendEnd): void;
  /** The log level the client asked for, to set on servers opened later. */
  logLevel(): string | undefined;
}

/** A request the gateway itself sent the server (initialize, a list page) and waits for. */
interface Waiter {
  resolve(result: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A client request relayed to the server. */
export interface Relay {
  readonly clientId: JsonRpcId;
  /** The client's progress token, and the one the server was given in its place. */
  readonly progress?: { readonly client: string | number; readonly server: string };
}

/** Pages of one list a member follows before it serves what it has (and says so in the log). */
export const MAX_LIST_PAGES = 50;

export class Member {
  state: 'closed' | 'opening' | 'ready' | 'down' = 'closed';
  capabilities: Record<string, unknown> = {};
  /** Why it is down, for the errors its calls get. */
  lastError?: string;
  /** Client requests in flight at the server, by the server's id. */
  readonly relays = new Map<JsonRpcId, Relay>();
  /** The same, by the progress token the server was given in place of the client's. */
  readonly progress = new Map<string, Relay>();
  private launched?: Launched;
  private opening?: Promise<void>;
  private downUntil = 0;
  private nextId = 1;
  private readonly waiting = new Map<JsonRpcId, Waiter>();
  /** Whole lists by method (every page followed), or the fetch in progress. */
  private readonly lists = new Map<string, Promise<unknown[]>>();
  /** Bumped when the server says a list changed, so that a fetch begun before does not refill the cache. */
  private generation = 0;

  constructor(
    readonly spec: MemberSpec,
    private readonly host: MemberHost,
  ) {}

  get serverId(): string {
    return this.spec.serverId;
  }

  /** The backend session's process id, for the Admin API. */
  describe() {
    return { server_id: this.serverId, state: this.state, ...(this.launched ? { backend: this.launched.backend.describe() } : {}) };
  }

  get backlog(): number {
    return this.launched?.backend.backlog ?? 0;
  }

  pause(): void {
    this.launched?.backend.pause();
  }

  resume(): void {
    this.launched?.backend.resume();
  }

  /** A server id for a message the gateway sends it: unique within this session of the server. */
  takeId(): number {
    return this.nextId++;
  }

  /**
   * Opens the server's session and initializes it, once; later callers share the first. Rejects
   * with what a call to the server should be answered while it cannot be reached.
   */
  ready(): Promise<void> {
    const remote = this.spec.server.remote;
    if (remote?.failing) {
      // A remote server failing its health checks is left out, its open session or not.
      this.lastError = `it fails its health checks: ${remote.health?.error ?? 'no answer'}`;
      return Promise.reject(this.unavailable());
    }
    if (this.state === 'ready') return Promise.resolve();
    if (this.opening) return this.opening;
    if (this.state === 'down' && performance.now() < this.downUntil) return Promise.reject(this.unavailable());
    this.state = 'opening';
    this.opening = this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<void> {
    const host = this.host;
    const { record, server } = this.spec;
    const logger = host.logger.child({ mcp_server: this.serverId });
    try {
      this.launched = await launchBackend(
        host.runtime,
        server,
        record,
        { message: (text, relatedTo) => host.message(this, text, relatedTo), ended: (end) => this.backendEnded(end) },
        {
          routeId: host.routeId,
          consumer: host.consumer,
          sessionId: host.sessionId,
          transport: host.transport,
          maxMessageBytes: host.maxMessageBytes,
          signal: host.closing,
          logger,
        },
      );
    } catch (err) {
      this.down((err as Error).message);
      throw err;
    }
    if (host.closing.aborted) {
      // The client's session ended while this one was being opened.
      const launched = this.launched;
      this.launched = undefined;
      this.state = 'closed';
      await launched.end('the client ended the session');
      throw this.unavailable();
    }
    try {
      const result = await this.request('initialize', host.initializeParams(), record.init_timeout * 1000);
      this.launched.settled(true);
      server.initialized(result);
      const capabilities = result.capabilities;
      this.capabilities = typeof capabilities === 'object' && capabilities !== null ? (capabilities as Record<string, unknown>) : {};
      this.notify('notifications/initialized');
      const level = host.logLevel();
      if (level !== undefined && this.capabilities.logging !== undefined) this.notifyRequest('logging/setLevel', { level });
      this.state = 'ready';
    } catch (err) {
      const message = (err as Error).message;
      const launched = this.launched;
      this.launched = undefined;
      // Undefined when the session ended under the initialize (backendEnded said so already).
      if (launched) {
        launched.settled(false);
        this.down(message);
        const timedOut = (err as { status?: number }).status === 504;
        void launched.end(timedOut ? 'the MCP server did not answer initialize in time' : 'the MCP server refused to initialize', message);
      }
      throw this.unavailable();
    }
  }

  /** The server cannot be used for retry_interval: its calls get `unavailable()` meanwhile. */
  private down(message: string): void {
    this.state = 'down';
    this.lastError = message;
    this.downUntil = performance.now() + this.host.retryMs;
    this.lists.clear();
    this.generation += 1;
    this.host.logger.warn({ mcp_server: this.serverId, error: message }, 'federated mcp server unavailable; its tools are left out');
  }

  /** The JSON-RPC error a call to this server gets while it cannot be reached. */
  unavailable(): Error {
    return mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, `MCP server ${this.serverId} is not available: ${this.lastError ?? 'it could not be reached'}`, {
      data: { server: this.serverId },
    });
  }

  /** Sends a message as it is (the caller chose its id). */
  send(message: Record<string, unknown>): void {
    this.launched?.backend.send(JSON.stringify(message));
  }

  notify(method: string, params?: Record<string, unknown>): void {
    this.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  /** A request whose answer nobody waits for (logging/setLevel): answered into the void. */
  notifyRequest(method: string, params: Record<string, unknown>): void {
    const id = `tollgate-${this.takeId()}`;
    this.request(method, params, 30_000, id).catch(() => undefined);
  }

  /** A request of the gateway's own; resolves with the result, rejects with the error or at the timeout. */
  request(method: string, params: Record<string, unknown>, timeoutMs: number, id: JsonRpcId = `tollgate-${this.takeId()}`): Promise<Record<string, unknown>> {
    if (!this.launched) return Promise.reject(this.unavailable());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(mcpHttpError(MCP_ERRORS.GW_MCP_INIT_TIMEOUT, `MCP server ${this.serverId} did not answer ${method} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, { resolve, reject, timer });
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** An answer to one of the gateway's own requests; false when it is not one. */
  answered(message: Record<string, unknown>): boolean {
    const id = message.id as JsonRpcId;
    const waiter = this.waiting.get(id);
    if (!waiter) return false;
    this.waiting.delete(id);
    clearTimeout(waiter.timer);
    const error = message.error as { message?: unknown; code?: unknown } | undefined;
    if (error !== undefined) {
      waiter.reject(new Error(`MCP server ${this.serverId} answered with an error: ${String(error.message ?? error.code)}`));
    } else {
      const result = message.result;
      waiter.resolve(typeof result === 'object' && result !== null && !Array.isArray(result) ? (result as Record<string, unknown>) : {});
    }
    return true;
  }

  /**
   * The whole list (`tools/list`…), every page followed (up to MAX_LIST_PAGES), from the cache
   * while the server has not said it changed. A server without the list's capability has none.
   */
  async list(method: string, timeoutMs: number): Promise<unknown[]> {
    await this.ready();
    const shape = LISTS[method];
    if (this.capabilities[shape.capability] === undefined) return [];
    let cached = this.lists.get(method);
    if (!cached) {
      const generation = this.generation;
      cached = this.fetchList(method, shape.field, timeoutMs);
      this.lists.set(method, cached);
      cached.catch(() => {
        if (this.lists.get(method) === cached) this.lists.delete(method);
      });
      // A change announced while the fetch ran: the next caller fetches again.
      void cached.then(
        () => {
          if (this.generation !== generation && this.lists.get(method) === cached) this.lists.delete(method);
        },
        () => undefined,
      );
    }
    return cached;
  }

  private async fetchList(method: string, field: string, timeoutMs: number): Promise<unknown[]> {
    const items: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const result = await this.request(method, cursor === undefined ? {} : { cursor }, timeoutMs);
      const found = result[field];
      if (Array.isArray(found)) items.push(...found);
      cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
      if (cursor === undefined) {
        // What the Admin API shows of the server's offer (GET /apisix/admin/mcp_servers/{id}/tools).
        if (isListMethod(method)) this.spec.server.listSeen(method, { [field]: items }, 'session');
        return items;
      }
    }
    this.host.logger.warn({ mcp_server: this.serverId, method, pages: MAX_LIST_PAGES, items: items.length }, 'federated mcp server has more list pages than the federation follows; serving the first');
    return items;
  }

  /** The server said these lists changed. */
  stale(methods: readonly string[]): void {
    this.generation += 1;
    for (const method of methods) this.lists.delete(method);
  }

  /** Whether the server may have items of this list (it declared the capability, or it is not open yet). */
  offers(method: string): boolean {
    return this.state !== 'ready' || this.capabilities[LISTS[method].capability] !== undefined;
  }

  private backendEnded(end: BackendEnd): void {
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      this.waiting.delete(id);
      waiter.reject(new Error(end.failure?.message ?? end.reason));
    }
    const launched = this.launched;
    this.launched = undefined;
    if (!end.requested) this.down(end.failure?.message ?? end.reason);
    else if (this.state !== 'down') this.state = 'closed';
    this.host.ended(this, end);
    void launched?.end(end.reason, end.failure?.message);
  }

  /** Ends the server's session (the client's session ended). */
  async close(reason: string): Promise<void> {
    const launched = this.launched;
    this.launched = undefined;
    this.state = 'closed';
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      this.waiting.delete(id);
      waiter.reject(new Error(reason));
    }
    await launched?.end(reason);
  }
}
