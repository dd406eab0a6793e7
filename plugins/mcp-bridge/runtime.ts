/**
 * Gateway-wide state of the bridge: the `mcp` section of the gateway config, the logger, and the
 * count of live child processes that `mcp.max_children` caps. Routes come and go; this lives from
 * `init` to `destroy`.
 */
import { loadConfig, type GatewayConfig } from '../../core/config.js';
import { createLogger, type Logger } from '../../core/logger.js';

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

class Runtime {
  settings: BridgeSettings;
  logger: Logger;
  /**
   * Gateways started in this process that loaded the plugin, newest last. Tests and embedders
   * may run several; `destroy` cannot say which one stops, so the newest still running wins and
   * nested start/stop pairs restore the outer gateway's settings.
   */
  private readonly users: Array<{ settings: BridgeSettings; logger: Logger }> = [];
  private slots = 0;
  private readonly children = new Set<Stoppable>();
  private readonly stopping = new Set<Promise<void>>();
  private readonly fallback: { settings: BridgeSettings; logger: Logger };

  constructor() {
    // Used only when routes are compiled without init (tools that validate catalogs offline).
    this.fallback = { settings: settingsOf(loadConfig({ env: {} }).mcp), logger: createLogger('silent') };
    this.settings = this.fallback.settings;
    this.logger = this.fallback.logger;
  }

  init(config: Readonly<GatewayConfig>, logger: Logger): void {
    this.users.push({ settings: settingsOf(config.mcp), logger: logger.child({ plugin: 'mcp-bridge' }) });
    this.use(this.users[this.users.length - 1]);
  }

  private use(entry: { settings: BridgeSettings; logger: Logger }): void {
    this.settings = entry.settings;
    this.logger = entry.logger;
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
   * wait for that. The last gateway of the process also stops anything left.
   */
  async destroy(): Promise<void> {
    this.users.pop();
    this.use(this.users[this.users.length - 1] ?? this.fallback);
    if (this.users.length === 0) for (const child of this.children) this.track(child.stop());
    await Promise.allSettled([...this.stopping]);
  }
}

export const runtime = new Runtime();
