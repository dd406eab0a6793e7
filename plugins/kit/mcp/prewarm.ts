/**
 * `prewarm: N`: children started and initialized ahead of demand, so that a new session's first
 * result does not wait for a slow start (an `npx` download, a Python import). Each warm child is
 * initialized with the newest protocol revision and no client capabilities; a Streamable HTTP
 * session whose `initialize` asks for exactly that (the SDK clients' default) takes one, and its
 * `initialize` is answered from the warm child's result at once. Any other initialize (an older
 * revision, capabilities such as sampling or roots, which a server may act on) starts a child of
 * its own as before. Taken children are replaced in the background, shortly after. Warm children count against
 * mcp.max_children, but never keep a session out: a session that takes one takes over its slot,
 * and at the cap a session of any route that needs a child of its own makes a warm child give
 * way (Runtime.claim); when the cap has no room none is started, and the pool refills when a
 * slot frees. A start that fails pauses the pool until the next session.
 */
import type { Logger } from '../../../core/logger.js';
import type { Backend, BackendEnd, BackendEvents, BackendInfo } from './backend.js';
import type { ChildOptions } from './child.js';
import { PROTOCOL_VERSIONS, type JsonRpcId } from './jsonrpc.js';
import type { Runtime } from './runtime.js';
import { StdioBackend } from './stdio-backend.js';

/**
 * How long a refill waits after a session took a warm child. Spawning blocks the gateway for a few
 * milliseconds and the new child's start then competes for the CPU, just when the session that
 * took the child sends its `initialize` and first call: started at once, the refill added 10-28 ms
 * to that session's first result (npm run bench -- mcp-modern, creation). No replacement could be
 * ready sooner than a child start takes anyway.
 */
const REFILL_DELAY_MS = 200;

/** What a session must ask in initialize to be given a warm child. */
const WARM_VERSION = PROTOCOL_VERSIONS[0];

/** Whether an initialize's parameters are what warm children were initialized with. */
export function fitsWarmChild(params: unknown): boolean {
  if (typeof params !== 'object' || params === null) return false;
  const { protocolVersion, capabilities } = params as { protocolVersion?: unknown; capabilities?: unknown };
  const noCapabilities = capabilities === undefined || (typeof capabilities === 'object' && capabilities !== null && Object.keys(capabilities).length === 0);
  return protocolVersion === WARM_VERSION && noCapabilities;
}

/** Where a warm child's messages go: nowhere useful until a session takes it. */
class Relay implements BackendEvents {
  target?: BackendEvents;
  onInitialized?: (result: Record<string, unknown> | undefined) => void;
  onEndedWarm?: () => void;

  message(text: string): void {
    if (this.target) return this.target.message(text);
    if (!this.onInitialized) return;
    try {
      const message = JSON.parse(text) as Record<string, unknown>;
      if (message.id === 'tg-warm') {
        const result = message.result;
        this.onInitialized(typeof result === 'object' && result !== null ? (result as Record<string, unknown>) : undefined);
        this.onInitialized = undefined;
      }
    } catch {
      // Not JSON: the session would count it; a warm child has no session yet.
    }
  }

  ended(end: BackendEnd): void {
    if (this.target) return this.target.ended(end);
    this.onEndedWarm?.();
  }
}

interface Warm {
  readonly backend: StdioBackend;
  readonly relay: Relay;
  readonly initializeResult: Record<string, unknown>;
}

export class WarmPool {
  private readonly ready: Warm[] = [];
  private starting = 0;
  private disposed = false;
  /** A start failed: no more until a session comes (a server that cannot start is not restarted in a loop). */
  private paused = false;

  constructor(
    private readonly size: number,
    private readonly runtime: Runtime,
    private readonly options: () => Omit<ChildOptions, 'logger'>,
    private readonly logger: Logger,
    private readonly labels: { route: string; server: string },
    /** init_timeout: how long a warm child has to answer initialize. */
    private readonly initTimeoutMs: number,
  ) {
    runtime.warmPools.add(this);
    this.fill();
  }

  get warm(): number {
    return this.ready.length;
  }

  /**
   * A warm child for a session, if there is one: its `initialize` is then answered from the cached
   * result. The child's slot of mcp.max_children passes to the session (which claims none of its own).
   */
  take(events: BackendEvents): PrewarmedBackend | undefined {
    const warm = this.ready.shift();
    if (!warm) return undefined;
    warm.relay.target = events;
    setTimeout(() => this.resume(), REFILL_DELAY_MS).unref();
    return new PrewarmedBackend(warm.backend, warm.initializeResult, events);
  }

  /**
   * Stops one warm child for a session that needs its slot of mcp.max_children (Runtime.claim);
   * false when none is warm. The pool refills when a slot frees again.
   */
  surrender(): boolean {
    const warm = this.ready.shift();
    if (!warm) return false;
    this.logger.info('a prewarmed MCP server gives its slot of mcp.max_children to a session');
    this.runtime.unclaim();
    this.runtime.track(warm.backend.stop().finally(() => this.runtime.release(warm.backend)));
    return true;
  }

  /** A session came: starts failed before are tried again. */
  resume(): void {
    this.paused = false;
    this.fill();
  }

  /**
   * Starts children until `size` are warm or starting. With no room under mcp.max_children it
   * waits for a slot to free (it never ends a session to make room for a child nobody asked for).
   */
  fill(): void {
    if (this.paused) return;
    while (!this.disposed && this.ready.length + this.starting < this.size) {
      if (!this.runtime.claim(false)) return this.runtime.whenSlotFree(this);
      this.starting += 1;
      void this.start().then(
        (warm) => {
          this.starting -= 1;
          if (this.disposed) {
            this.runtime.unclaim();
            this.runtime.track(warm.backend.stop().finally(() => this.runtime.release(warm.backend)));
            return;
          }
          this.ready.push(warm);
        },
        (err: Error) => {
          this.starting -= 1;
          this.paused = true;
          this.runtime.unclaim();
          this.logger.warn({ err: err.message }, 'a prewarmed MCP server failed to start; prewarm pauses until the next session');
        },
      );
    }
  }

  private async start(): Promise<Warm> {
    const options = this.options();
    const turn = await this.runtime.starts.admit(AbortSignal.timeout(60_000));
    const relay = new Relay();
    let backend: StdioBackend;
    try {
      backend = new StdioBackend({ ...options, logger: this.logger }, relay);
    } catch (err) {
      turn.release();
      this.runtime.starts.processGone();
      throw err;
    }
    this.runtime.adopt(backend, this.labels.route, this.labels.server);
    const gone = () => this.runtime.track(backend.stop().finally(() => this.runtime.release(backend)));
    try {
      await backend.started;
      const result = await new Promise<Record<string, unknown> | undefined>((resolve, reject) => {
        // As a session's child is given: one that never answers would hold its start turn (and
        // its slot) for good, and with it a share of mcp.start_concurrency for every route.
        const timer = setTimeout(() => reject(new Error(`the MCP server did not answer initialize within ${this.initTimeoutMs / 1000} s (init_timeout)`)), this.initTimeoutMs);
        timer.unref();
        relay.onInitialized = (answer) => {
          clearTimeout(timer);
          resolve(answer);
        };
        relay.onEndedWarm = () => {
          clearTimeout(timer);
          reject(new Error('the MCP server exited before answering initialize'));
        };
        backend.send(JSON.stringify({ jsonrpc: '2.0', id: 'tg-warm', method: 'initialize', params: { protocolVersion: WARM_VERSION, capabilities: {}, clientInfo: { name: 'tollgate-prewarm', version: '1' } } }));
      });
      if (!result) throw new Error('the MCP server refused to initialize');
      backend.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      // A warm child that dies while waiting is forgotten, and the pool waits for the next session
      // (a server that exits when idle is not restarted over and over).
      relay.onEndedWarm = () => {
        const index = this.ready.findIndex((w) => w.backend === backend);
        if (index >= 0) {
          this.ready.splice(index, 1);
          this.paused = true;
          this.runtime.unclaim();
          this.runtime.release(backend);
        }
      };
      return { backend, relay, initializeResult: result };
    } catch (err) {
      gone();
      throw err;
    } finally {
      turn.release();
    }
  }

  dispose(): void {
    this.disposed = true;
    this.runtime.warmPools.delete(this);
    for (const warm of this.ready.splice(0)) {
      this.runtime.unclaim();
      this.runtime.track(warm.backend.stop().finally(() => this.runtime.release(warm.backend)));
    }
  }
}

/** A session's backend on a warm child: its initialize answered from the cached result. */
export class PrewarmedBackend implements Backend {
  readonly started = Promise.resolve();
  private initialized = false;

  constructor(
    readonly inner: StdioBackend,
    private readonly initializeResult: Record<string, unknown>,
    private readonly events: BackendEvents,
  ) {}

  get pid(): number | undefined {
    return this.inner.pid;
  }

  get backlog(): number {
    return this.inner.backlog;
  }

  send(text: string): void {
    if (!this.initialized) {
      const message = JSON.parse(text) as { id?: JsonRpcId; method?: string };
      if (message.method === 'initialize' && message.id !== undefined) {
        this.initialized = true;
        const answer = JSON.stringify({ jsonrpc: '2.0', id: message.id, result: this.initializeResult });
        queueMicrotask(() => this.events.message(answer));
        return;
      }
    }
    // The warm child heard notifications/initialized from the gateway already.
    if (text.includes('"notifications/initialized"') && (JSON.parse(text) as { method?: string }).method === 'notifications/initialized') return;
    this.inner.send(text);
  }

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  describe(): BackendInfo {
    return this.inner.describe();
  }
}
