/**
 * Gateway-wide state of the bridge: the `mcp` section of the gateway config, the logger, the
 * session managers, and the count of live child processes that `mcp.max_children` caps. Routes
 * come and go; this lives from `init` to `destroy`.
 */
import type { GatewayConfig } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import type { GatewayMetrics } from '../../core/metrics.js';
import type { PluginApi } from '../../core/plugin.js';
import type { ToolCallFeed } from '../../core/tool-calls.js';
import type { SessionManager } from './sessions.js';

export interface BridgeSettings {
  /** mcp.allowed_commands, checked again before every spawn. */
  allowedCommands: readonly string[];
  maxChildren: number;
  /** Milliseconds. */
  stopStdinWait: number;
  stopTermWait: number;
  maxRequestDuration: number;
  resumeBufferBytes: number;
  stderrLinesPerMinute: number;
}

/** Something that holds a child process and can stop it. */
export interface Stoppable {
  stop(): Promise<void>;
}

export function settingsOf(mcp: GatewayConfig['mcp']): BridgeSettings {
  return {
    allowedCommands: mcp.allowed_commands,
    maxChildren: mcp.max_children,
    stopStdinWait: mcp.stop_stdin_wait * 1000,
    stopTermWait: mcp.stop_term_wait * 1000,
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
  /** Session managers by route and bridge config, shared by route versions whose bridge config is equal. */
  readonly managers = new Map<string, SessionManager>();
  private slots = 0;
  /** Live children and the route each serves (the per-route children gauge). */
  private readonly children = new Map<Stoppable, string>();
  private readonly stopping = new Set<Promise<void>>();
  private readonly stopGauges: () => void;

  constructor(api: Pick<PluginApi, 'config' | 'logger' | 'metrics' | 'toolCalls'>) {
    this.settings = settingsOf(api.config.mcp);
    this.logger = api.logger.child({ plugin: 'mcp-bridge' });
    this.metrics = api.metrics;
    this.toolCalls = api.toolCalls;
    this.stopGauges = api.metrics.provideMcp(() => this.gauges());
  }

  /** Sessions and children per route, read by the metrics at scrape time. */
  private gauges(): Array<{ route: string; sessions: number; children: number }> {
    const byRoute = new Map<string, { route: string; sessions: number; children: number }>();
    const entry = (route: string) => {
      let found = byRoute.get(route);
      if (!found) byRoute.set(route, (found = { route, sessions: 0, children: 0 }));
      return found;
    };
    for (const manager of this.managers.values()) entry(manager.routeId).sessions += manager.size;
    for (const route of this.children.values()) entry(route).children += 1;
    return [...byRoute.values()];
  }

  /** Children running or stopping, plus slots reserved for children being started. */
  get liveChildren(): number {
    return this.slots;
  }

  /** Reserves a child slot before spawning; false when the gateway-wide cap is reached. */
  reserve(): boolean {
    if (this.slots >= this.settings.maxChildren) return false;
    this.slots += 1;
    return true;
  }

  /** A reserved slot was not used (the spawn threw). */
  unreserve(): void {
    this.slots = Math.max(0, this.slots - 1);
  }

  adopt(child: Stoppable, routeId: string): void {
    this.children.set(child, routeId);
  }

  /** The child is gone, grandchildren included: its slot is free. */
  release(child: Stoppable): void {
    if (this.children.delete(child)) this.slots = Math.max(0, this.slots - 1);
  }

  /** Remembers a stop in progress so that `destroy` can wait for it. */
  track(stop: Promise<void>): void {
    this.stopping.add(stop);
    void stop.finally(() => this.stopping.delete(stop));
  }

  /**
   * Routes are disposed before plugins are destroyed, so their children are already stopping:
   * wait for that, and stop anything left.
   */
  async destroy(): Promise<void> {
    this.stopGauges();
    for (const child of this.children.keys()) this.track(child.stop());
    await Promise.allSettled([...this.stopping]);
  }
}

/** This gateway's bridge runtime. */
export function runtimeOf(api: PluginApi): Runtime {
  return api.state('mcp-bridge', () => new Runtime(api));
}
