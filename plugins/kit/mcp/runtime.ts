/**
 * Gateway-wide state of the bridge: the `mcp` section of the gateway config, the logger, the
 * session managers, the sessions that `mcp.max_children` caps, the queue children start through,
 * and what makes sure no child outlives the gateway (the reaper, the record in the data dir).
 * Routes come and go; this lives from `init` to `destroy`.
 */
import { resolveDataPath, type GatewayConfig } from '../../../core/config.js';
import type { Logger } from '../../../core/logger.js';
import type { GatewayMetrics } from '../../../core/metrics.js';
import type { PluginApi } from '../../../core/plugin.js';
import { RefCountedMap } from '../../../core/ref-counted-map.js';
import type { ToolCallFeed } from '../../../core/tool-calls.js';
import { ChildRecord, stopLeftovers } from './leftovers.js';
import { Reaper } from './reaper.js';
import type { SessionManager } from './sessions.js';
import { ServerDirectory } from './server.js';
import { StartQueue } from './start-queue.js';
import { bridgeAttributes, type BridgeAttributes } from './attributes.js';

export interface BridgeSettings {
  /** mcp.allowed_commands, checked again before every spawn. */
  allowedCommands: readonly string[];
  maxChildren: number;
  startConcurrency: number;
  startQueue: number;
  /** Milliseconds. */
  stopStdinWait: number;
  stopTermWait: number;
  /** How long the reaper outlives the last child (milliseconds). */
  reaperLinger: number;
  maxRequestDuration: number;
  resumeBufferBytes: number;
  stderrLinesPerMinute: number;
}

/** Something that holds a child process (the leader of its own process group) and can stop it. */
export interface Stoppable {
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** A session that may be ended to make room (see SessionManager.reclaimable). */
export interface ReclaimCandidate {
  /** Milliseconds since its client was last active. */
  readonly idleMs: number;
  reclaim(cap: string): void;
}

export function settingsOf(mcp: BridgeAttributes): BridgeSettings {
  return {
    allowedCommands: mcp.allowed_commands,
    maxChildren: mcp.max_children,
    startConcurrency: mcp.start_concurrency,
    startQueue: mcp.start_queue,
    stopStdinWait: mcp.stop_stdin_wait * 1000,
    stopTermWait: mcp.stop_term_wait * 1000,
    reaperLinger: mcp.reaper_linger * 1000,
    maxRequestDuration: mcp.max_request_duration * 1000,
    resumeBufferBytes: mcp.resume_buffer_bytes,
    stderrLinesPerMinute: mcp.stderr_lines_per_minute,
  };
}

/**
 * One gateway's bridge state (kept in the gateway's plugin state, never in this module, so
 * gateways sharing a process never share children or caps).
 */
export class Runtime {
  readonly settings: BridgeSettings;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly toolCalls: ToolCallFeed;
  /** The prewarm pools of every route: their idle children give way to sessions at the cap. */
  readonly warmPools = new Set<{ surrender(): boolean }>();
  /** Session managers by route and bridge config, shared by route versions whose bridge config is equal. */
  readonly managers = new RefCountedMap<SessionManager>((manager) => manager.close());
  /** The MCP servers routes use: their session caps, and what the Admin API shows of them. */
  readonly servers: ServerDirectory;
  readonly starts: StartQueue;
  /** Sessions open gateway-wide (starting, running, or waiting to start): what max_children caps. */
  private sessions = 0;
  /** Live children and the route and MCP server each serves (the children gauge). */
  private readonly children = new Map<Stoppable, { route: string; server: string }>();
  private readonly stopping = new Set<Promise<void>>();
  /** Warm pools waiting for room under mcp.max_children. */
  private readonly slotWaiters = new Set<{ fill(): void }>();
  private readonly stopGauges: () => void;
  private readonly reaper: Reaper;
  private readonly record: ChildRecord;
  private readonly leftovers: Promise<void>;
  private destroyed?: Promise<void>;

  constructor(api: Pick<PluginApi, 'config' | 'logger' | 'metrics' | 'toolCalls'> & Partial<Pick<PluginApi, 'resource'>>) {
    this.settings = settingsOf(bridgeAttributes(api.config));
    this.servers = new ServerDirectory((id) => api.resource?.('mcp_servers', id) !== undefined);
    this.logger = api.logger.child({ plugin: 'mcp-bridge' });
    this.metrics = api.metrics;
    this.toolCalls = api.toolCalls;
    this.starts = new StartQueue(this.settings.startConcurrency, this.settings.startQueue, this.settings.maxChildren);
    this.stopGauges = api.metrics.provideMcp(() => this.gauges());
    const { stopStdinWait, stopTermWait, reaperLinger } = this.settings;
    this.reaper = new Reaper({ stopStdinWait, stopTermWait, linger: reaperLinger, logger: this.logger });
    const dir = resolveDataPath(api.config as GatewayConfig, 'mcp-children');
    this.record = new ChildRecord(dir, this.logger);
    this.leftovers = stopLeftovers(dir, stopTermWait, this.logger).catch((err: unknown) => {
      this.logger.error({ err }, 'mcp: could not stop the servers a previous gateway left running');
    });
  }

  /** Sessions and children per route and MCP server, read by the metrics at scrape time. */
  private gauges(): Array<{ route: string; server: string; sessions: number; children: number }> {
    const byRoute = new Map<string, { route: string; server: string; sessions: number; children: number }>();
    const entry = (route: string, server: string) => {
      const key = `${route}\n${server}`;
      let found = byRoute.get(key);
      if (!found) byRoute.set(key, (found = { route, server, sessions: 0, children: 0 }));
      return found;
    };
    for (const manager of this.managers.values()) entry(manager.routeId, manager.server.id ?? '').sessions += manager.size;
    for (const { route, server } of this.children.values()) entry(route, server).children += 1;
    return [...byRoute.values()];
  }

  /**
   * Counts a new session against `mcp.max_children`. At the cap (unless `reclaim` is false) a
   * prewarmed child nobody has taken is stopped to make room, else the least recently active
   * session of any route that may be reclaimed is ended; false when there is neither. The new
   * session's child still waits in the start queue until the one making room is gone.
   */
  claim(reclaim = true): boolean {
    if (this.sessions >= this.settings.maxChildren && !(reclaim && this.reclaimAnywhere())) return false;
    this.sessions += 1;
    return true;
  }

  /** A session counted by `claim` has ended. */
  unclaim(): void {
    this.sessions = Math.max(0, this.sessions - 1);
    if (this.slotWaiters.size === 0) return;
    // After the caller's own bookkeeping: a waiter may claim the slot at once.
    const waiters = [...this.slotWaiters];
    this.slotWaiters.clear();
    queueMicrotask(() => {
      for (const waiter of waiters) waiter.fill();
    });
  }

  /** `waiter.fill()` is called once, the next time a slot of mcp.max_children is released (prewarm refills). */
  whenSlotFree(waiter: { fill(): void }): void {
    this.slotWaiters.add(waiter);
  }

  private reclaimAnywhere(): boolean {
    // A child started in case someone comes is worth less than a session that is here.
    for (const pool of this.warmPools) if (pool.surrender()) return true;
    const now = performance.now();
    let oldest: ReclaimCandidate | undefined;
    for (const manager of this.managers.values()) {
      const candidate = manager.reclaimableChild(now);
      if (candidate && (!oldest || candidate.idleMs > oldest.idleMs)) oldest = candidate;
    }
    oldest?.reclaim('mcp.max_children');
    return oldest !== undefined;
  }

  /** A child was spawned: counted, and known to the reaper and the record until released. */
  adopt(child: Stoppable, routeId: string, serverId = ''): void {
    this.children.set(child, { route: routeId, server: serverId });
    if (child.pid === undefined) return;
    this.reaper.track(child.pid);
    this.record.add(child.pid);
  }

  /** The child is gone, grandchildren included: its process slot is free. */
  release(child: Stoppable): void {
    if (!this.children.delete(child)) return;
    this.starts.processGone();
    if (child.pid === undefined) return;
    this.reaper.untrack(child.pid);
    this.record.remove(child.pid);
  }

  /** Remembers a stop in progress so that `destroy` can wait for it. */
  track(stop: Promise<void>): void {
    this.stopping.add(stop);
    void stop.finally(() => this.stopping.delete(stop));
  }

  /**
   * Routes are disposed before plugins are destroyed, so their children are already stopping:
   * wait for that, and stop anything left. Every MCP plugin destroys it; the first does the work.
   */
  destroy(): Promise<void> {
    this.destroyed ??= this.shutDown();
    return this.destroyed;
  }

  private async shutDown(): Promise<void> {
    this.stopGauges();
    for (const child of this.children.keys()) this.track(child.stop());
    await Promise.allSettled([...this.stopping]);
    // After the sessions' ends: a remote session's end is a DELETE through its server's pool.
    await this.servers.closeAll();
    this.record.close();
    await this.reaper.close();
    await this.leftovers;
  }
}

/**
 * This gateway's MCP runtime, one for every plugin serving MCP (mcp-bridge, mcp-federation): one
 * mcp.max_children, one start queue, one directory of MCP servers whatever route reaches them.
 */
export function runtimeOf(api: PluginApi): Runtime {
  return api.state('mcp', () => new Runtime(api));
}
