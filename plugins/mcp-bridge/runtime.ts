/**
 * Gateway-wide state of the bridge: the `mcp` section of the gateway config, the logger, the
 * session managers, and the count of live child processes that `mcp.max_children` caps. Routes
 * come and go; this lives from `init` to `destroy`.
 */
import type { GatewayConfig } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import type { PluginApi } from '../../core/plugin.js';
import type { SessionManager } from './sessions.js';

export interface BridgeSettings {
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
  /** Session managers by route and bridge config, shared by route versions whose bridge config is equal. */
  readonly managers = new Map<string, SessionManager>();
  private slots = 0;
  private readonly children = new Set<Stoppable>();
  private readonly stopping = new Set<Promise<void>>();

  constructor(config: Readonly<GatewayConfig>, logger: Logger) {
    this.settings = settingsOf(config.mcp);
    this.logger = logger.child({ plugin: 'mcp-bridge' });
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

  adopt(child: Stoppable): void {
    this.children.add(child);
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
    for (const child of this.children) this.track(child.stop());
    await Promise.allSettled([...this.stopping]);
  }
}

/** This gateway's bridge runtime. */
export function runtimeOf(api: PluginApi): Runtime {
  return api.state('mcp-bridge', () => new Runtime(api.config, api.logger));
}
